package main

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/xenorder/xenorder/internal/runner"
)

// The journal's priority follows the event's severity, never its text.
func TestJournalPriorityFollowsSeverity(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    runner.Event
		want journal.Priority
	}{
		{"a step as planned", runner.Event{Guest: "web", Step: "ready", Msg: "ready after 2s", Severity: runner.Info}, journal.PriInfo},
		{"capitals are not a severity", runner.Event{Guest: "web", Step: "create", Msg: "FAILED? no: FRESH in a name", Severity: runner.Info}, journal.PriInfo},
		{"a warning without an error", runner.Event{Guest: "db", Step: "restore", Msg: "BOOTING IT FRESH instead", Severity: runner.Warning}, journal.PriWarning},
		{"a failed request", runner.Event{Guest: "db", Step: "save", Msg: "SAVE FAILED; shutting it down instead", Err: errors.New("xl save: exit 1"), Severity: runner.Warning}, journal.PriWarning},
		{"a guest failed", runner.Event{Guest: "db", Step: "fail", Msg: "failed", Err: errors.New("xl create: exit 3"), Severity: runner.Error}, journal.PriErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got journal.Priority = -1
			l := slog.New(&journalHandler{send: func(_ string, p journal.Priority, _ map[string]string) error { got = p; return nil }})
			tc.e.DomID = -1
			logEvent(l, tc.e)
			if got != tc.want {
				t.Errorf("priority %d, want %d", got, tc.want)
			}
		})
	}
}
