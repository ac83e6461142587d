package lock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondHolderFailsAtOnceNamingTheFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "xenorder.lock")
	l, err := Acquire(t.Context(), path, 0, "xenorder stop")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = Acquire(t.Context(), path, 0, "xenorder start")
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("err %v", err)
	}
	if held.PID != os.Getpid() || held.Command != "xenorder stop" || time.Since(began) > 100*time.Millisecond {
		t.Errorf("%+v after %s", held, time.Since(began))
	}
	if !strings.Contains(err.Error(), "(xenorder stop) holds the lock "+path) {
		t.Errorf("message %q", err)
	}
	l.Release()
	l2, err := Acquire(t.Context(), path, 0, "xenorder start")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

func TestWaitLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xenorder.lock")
	l, _ := Acquire(t.Context(), path, 0, "first")
	time.AfterFunc(200*time.Millisecond, func() { l.Release() })
	began := time.Now()
	l2, err := Acquire(t.Context(), path, 2*time.Second, "second")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d < 150*time.Millisecond || d > time.Second {
		t.Errorf("got the lock after %s", d)
	}
	// and a wait that expires
	began = time.Now()
	_, err = Acquire(t.Context(), path, 300*time.Millisecond, "third")
	var held *HeldError
	if !errors.As(err, &held) || held.Command != "second" || time.Since(began) < 300*time.Millisecond {
		t.Errorf("err %v after %s", err, time.Since(began))
	}
	l2.Release()
}

// Only root (the lock's owner) may open the lock file: whoever can open it
// can flock it and keep every xenorder waiting. An older build's 0644 file
// is made 0600.
func TestLockFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xenorder.lock")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	l, err := Acquire(t.Context(), path, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("the lock file is mode %#o, want 0600", m)
	}
}
