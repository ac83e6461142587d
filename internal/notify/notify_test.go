package notify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNilIsQuiet(t *testing.T) {
	var s *Systemd
	s.Ready()
	s.Stopping()
	s.Say("x")
	s.Extend(time.Second)
}

func TestDatagramsReachTheSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	s := FromEnv()
	if s == nil {
		t.Fatal("no notifier with NOTIFY_SOCKET set")
	}
	s.Say("starting 1/3: creating web")
	s.Extend(5 * time.Minute)
	s.Extend(time.Minute) // shorter, later: must not cut the 5 minutes
	s.Ready()
	var got []string
	buf := make([]byte, 4096)
	for range 4 {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(buf[:n]))
	}
	if got[0] != "STATUS=starting 1/3: creating web" || got[3] != "READY=1" {
		t.Errorf("datagrams %q", got)
	}
	for i, g := range got[1:3] {
		us, err := strconv.ParseInt(strings.TrimPrefix(g, "EXTEND_TIMEOUT_USEC="), 10, 64)
		if err != nil || time.Duration(us)*time.Microsecond < 4*time.Minute+59*time.Second {
			t.Errorf("extension %d: %q, want about 5m", i, g)
		}
	}
}

func TestNotUnderSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if FromEnv() != nil {
		t.Error("a notifier without NOTIFY_SOCKET")
	}
}
