package main

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/xenorder/xenorder/internal/config"
	"github.com/xenorder/xenorder/internal/runner"
)

// newEventLogger returns where the runner's events go: to the journal with
// structured fields (GUEST=, STEP=, DOMID=, DURATION_MS=) when stderr is
// the journal, else as timestamped lines on the printer.
func newEventLogger(out *printer, toJournal bool) *slog.Logger {
	if toJournal {
		return slog.New(&journalHandler{send: journal.Send})
	}
	return slog.New(&lineHandler{out: out})
}

// logEvent logs one runner event.
func logEvent(l *slog.Logger, e runner.Event) {
	level := slog.LevelInfo
	switch e.Severity {
	case runner.Error:
		level = slog.LevelError
	case runner.Warning:
		level = slog.LevelWarn
	}
	// GUEST= as the message shows it: a name from xl list may hold anything.
	attrs := []slog.Attr{slog.String("guest", config.Printable(e.Guest)), slog.String("step", string(e.Step))}
	if e.DomID >= 0 {
		attrs = append(attrs, slog.Int("domid", e.DomID))
	}
	if e.Elapsed > 0 {
		attrs = append(attrs, slog.Int64("duration_ms", e.Elapsed.Milliseconds()))
	}
	r := slog.NewRecord(e.Time, level, e.String(), 0)
	r.AddAttrs(attrs...)
	l.Handler().Handle(context.Background(), r)
}

// lineHandler prints "15:04:05 message" lines for people.
type lineHandler struct{ out *printer }

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	h.out.printf("%s %s\n", r.Time.Format("15:04:05"), r.Message)
	return nil
}
func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lineHandler) WithGroup(string) slog.Handler      { return h }

// journalHandler sends records to journald with their attributes as
// upper-case fields, so `journalctl -u xenorder GUEST=fileserver` shows
// one guest's story.
type journalHandler struct {
	send  func(msg string, p journal.Priority, vars map[string]string) error
	attrs []slog.Attr
}

func (h *journalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "xenorder"}
	add := func(a slog.Attr) bool {
		vars[strings.ToUpper(a.Key)] = a.Value.String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	return h.send(r.Message, priority(r.Level), vars)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{send: h.send, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}
func (h *journalHandler) WithGroup(string) slog.Handler { return h }

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}

// stderrIsJournal reports whether stderr is connected to journald.
func stderrIsJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok
}

// diagLogger is for diagnostics (xl calls with -v, warnings): the journal
// under systemd, else text on stderr.
func diagLogger(stderr io.Writer, verbose, toJournal bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	if toJournal {
		return slog.New(&leveled{Handler: &journalHandler{send: journal.Send}, min: level})
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

type leveled struct {
	slog.Handler
	min slog.Level
}

func (l *leveled) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.min }
