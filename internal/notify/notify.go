// Package notify talks to systemd about a run: READY=1, STOPPING=1,
// STATUS= and EXTEND_TIMEOUT_USEC=, through go-systemd's sd_notify.
package notify

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Systemd sends notifications to the service manager. A nil *Systemd
// (not under systemd) ignores every call.
type Systemd struct {
	send func(state string) error

	mu       sync.Mutex
	deadline time.Time // the latest moment any wait in flight may need
}

// FromEnv returns a notifier when $NOTIFY_SOCKET is set, else nil.
func FromEnv() *Systemd {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	return &Systemd{send: func(state string) error {
		_, err := daemon.SdNotify(false, state)
		return err
	}}
}

func (s *Systemd) notify(state string) {
	if s != nil {
		s.send(state) // best effort: systemd's absence must not stop a run
	}
}

// Ready says every guest that could be started is ready.
func (s *Systemd) Ready() { s.notify("READY=1") }

// Stopping says the guests are being stopped.
func (s *Systemd) Stopping() { s.notify("STOPPING=1") }

// Say sets the one line systemctl status shows of the unit: where the run
// is, or how it ended (STATUS=).
func (s *Systemd) Say(line string) { s.notify("STATUS=" + line) }

// Extend asks for at least d more time. systemd replaces an earlier
// extension with a later, shorter one, so with several waits in flight the
// extension sent covers the one that ends last.
func (s *Systemd) Extend(d time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	now := time.Now()
	if end := now.Add(d); end.After(s.deadline) {
		s.deadline = end
	}
	left := s.deadline.Sub(now)
	s.mu.Unlock()
	s.notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", left.Microseconds()))
}
