package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the README's first command as a user would: every step
// exits as the demo expects, the start brings the sample host's
// autostart guests up and the stop takes them down again.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds xenorder and the simulator, and runs a start and a stop")
	}
	// The simulated host ten times as fast (the demo's xl and xenstored
	// inherit the environment): the test checks steps and outcomes, not
	// times. (t.Setenv: the package's one test, not parallel.)
	t.Setenv("XLSIM_TIME_SCALE", "0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := demo(ctx, false, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	steps := regexp.MustCompile(`(?m)^\$ (.*)\n(?s:.*?)^# exit (\d+) after`).FindAllStringSubmatch(out, -1)
	var got []string
	for _, s := range steps {
		got = append(got, s[1]+" -> "+s[2])
	}
	want := []string{
		"xenorder plan -> 0",
		"xenorder start -> 0",
		"xenorder status -> 0",
		"xl list -> 0",
		"xenorder stop -> 0",
		"xenorder status -> 1", // the autostart guests are down
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("steps and exit codes:\n%s\nwant:\n%s\nstdout:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out, stderr.String())
	}
	// xl list, between the start and the stop, lists the guests the
	// start brought up.
	list := out[strings.Index(out, "$ xl list"):strings.Index(out, "$ xenorder stop")]
	for _, g := range []string{"Domain-N", "opnsense", "opnsense-dm", "fileserver", "web", "mail", "db", "monitor"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(g) + `\s+\d+`).MatchString(list) {
			t.Errorf("xl list after the start does not list %s:\n%s", g, list)
		}
	}
}
