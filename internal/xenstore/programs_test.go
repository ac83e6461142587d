package xenstore

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func script(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadProgram(t *testing.T) {
	got, err := ReadProgram(t.Context(), script(t, `[ "$1" = /tool/xenstored/domid ] && echo 3`), "/tool/xenstored/domid")
	if err != nil || got != "3\n" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := ReadProgram(t.Context(), script(t, "echo \"couldn't read path $1\" >&2; exit 1\n"), "/nope"); err == nil {
		t.Error("a failed read is no error")
	}
	if _, err := ReadProgram(t.Context(), "/nonexistent/xenstore-read", "/x"); err == nil {
		t.Error("a missing program is no error")
	}
}

// Each line the program prints is an event; Close returns once the
// program is gone, not merely asked to go.
func TestWatchProgram(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	prog := script(t, "echo $$ > "+pidFile+"\necho \"$1\"\necho \"$1\"\nexec sleep 1000\n")
	w, err := WatchProgram(t.Context(), prog, "@releaseDomain")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case ev := <-w.Events():
			if ev.Path != "@releaseDomain" {
				t.Errorf("event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
	w.Close()
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the watch (pid %d) outlived Close: %v", pid, err)
	}
	if _, open := <-w.Events(); open {
		t.Error("events still open after Close")
	}
	if _, err := WatchProgram(t.Context(), "/nonexistent/xenstore-watch", "@releaseDomain"); err == nil {
		t.Error("a missing program is no error")
	}
}

// A program that ends by itself closes the events: the caller goes back
// to polling.
func TestWatchProgramEnds(t *testing.T) {
	w, err := WatchProgram(t.Context(), script(t, "exit 0\n"), "@releaseDomain")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-w.Events():
		if open {
			t.Error("an event from a program that printed none")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events not closed")
	}
	w.Close()
}
