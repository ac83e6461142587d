package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestParseDuration: the spellings admins use in systemd units and Go's
// are read; what is not a duration is refused, saying what to write.
func TestParseDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"5min", 5 * time.Minute},
		{"5m", 5 * time.Minute},
		{"1h", time.Hour},
		{"2m30s", 150 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"1h 30min", 90 * time.Minute},
		{" 1 h  30 min ", 90 * time.Minute},
		{"500ms", 500 * time.Millisecond},
		{"500msec", 500 * time.Millisecond},
		{"1.5h", 90 * time.Minute},
		{"0.25s", 250 * time.Millisecond},
		{"1d", 24 * time.Hour},
		{"2 days", 48 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"3 hours 5 minutes 10 seconds", 3*time.Hour + 5*time.Minute + 10*time.Second},
		{"1hr", time.Hour},
		{"30sec", 30 * time.Second},
		{"1second", time.Second},
		{"1minute", time.Minute},
		{"10us", 10 * time.Microsecond},
		{"10µs", 10 * time.Microsecond},
		{"10usec", 10 * time.Microsecond},
		{"7ns", 7},
		{"0", 0},
		{"0s", 0},
		{"-1m", -time.Minute}, // the callers refuse it in their own words
		{"2540400h10m10.000000000s", 2540400*time.Hour + 10*time.Minute + 10*time.Second},
	}
	for _, tt := range good {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	bad := []struct {
		in   string
		want string // in the error
	}{
		{"", "empty; write a duration such as"},
		{"   ", "empty"},
		{"5", `5 has no unit (systemd would read seconds; xenorder wants the unit written): write 5s for seconds`},
		{"300", "write 300s for seconds"},
		{"1h30", "30 has no unit; write a duration such as"},
		{"5 mins", `unknown unit "mins"; the units are ms, s or sec, m or min, h or hr, d, w (and their long forms)`},
		{"5Min", `unknown unit "Min" (units are lower case: "min")`},
		{"5M", `"M" (months or years in systemd) is not accepted: no wait is that long, and M is not m (minutes)`},
		{"1y", `"y" (months or years in systemd) is not accepted`},
		{"2 months", `"months" (months or years in systemd)`},
		{"infinity", "infinity is not accepted: every wait has a bound"},
		{"soon", `"soon" is not a number`},
		{"five minutes", `"five" is not a number`},
		{"1..5s", `"1..5s" is not a number`},
		{"5m!", `"!" is not a number`},
		{"--5m", `"-5m" is not a number`},
		{"9999999999999999999h", "too long (at most about 292 years)"},
		{"2000000h 2000000h", "too long"},
	}
	for _, tt := range bad {
		got, err := ParseDuration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.want)
		}
		if err != nil && !strings.HasSuffix(err.Error(), durationExamples) {
			t.Errorf("ParseDuration(%q): %v: no examples at its end", tt.in, err)
		}
	}
}

// durationKeys is every duration key of the config, as a file that sets it
// to VALUE on line 3 (and the line a problem names), and where the parsed
// value lands.
var durationKeys = []struct {
	key  string // as problems name it
	src  string
	line int
	get  func(*Config) time.Duration
	// A string that is not a duration is named as the validator names it:
	// in a probe, at its [[ready]] line as ready[i].KEY.
	strKey  string
	strLine int
}{
	{"defaults: start_timeout", "[defaults]\n\nstart_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Defaults.StartTimeout }, "", 0},
	{"defaults: stop_timeout", "[defaults]\n\nstop_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Defaults.StopTimeout }, "", 0},
	{"defaults: poll_interval", "[defaults]\n\npoll_interval = VALUE\n", 3, func(c *Config) time.Duration { return c.Defaults.PollInterval }, "", 0},
	{"defaults: probe_interval", "[defaults]\n\nprobe_interval = VALUE\n", 3, func(c *Config) time.Duration { return c.Defaults.ProbeInterval }, "", 0},
	{"defaults: save_timeout", "[defaults]\n\nsave_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Defaults.Stop.SaveTimeout }, "", 0},
	{"guest web: start_timeout", "[guest.web]\n\nstart_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Guests["web"].StartTimeout }, "", 0},
	{"guest web: stop_timeout", "[guest.web]\n\nstop_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Guests["web"].StopTimeout }, "", 0},
	{"guest web: save_timeout", "[guest.web]\n\nsave_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Guests["web"].Stop.SaveTimeout }, "", 0},
	{"guest mail.example.org: stop_timeout", "[guest.\"mail.example.org\"]\n\nstop_timeout = VALUE\n", 3, func(c *Config) time.Duration { return c.Guests["mail.example.org"].StopTimeout }, "", 0},
	{"external nas: start_timeout", "[external.nas]\n\nstart_timeout = VALUE\n[[external.nas.ready]]\ntcp = \"10.0.0.1:22\"\n", 3, func(c *Config) time.Duration { return c.Guests["nas"].StartTimeout }, "", 0},
	{"guest web: ready.interval", "[guest.web]\n[[guest.web.ready]]\ninterval = VALUE\ntcp = \"10.0.0.1:22\"\n", 3, func(c *Config) time.Duration { return c.Guests["web"].Probes[0].Interval }, "guest web: ready[0].interval", 2},
	{"guest web: ready.attempt_timeout", "[guest.web]\n[[guest.web.ready]]\nattempt_timeout = VALUE\ntcp = \"10.0.0.1:22\"\n", 3, func(c *Config) time.Duration { return c.Guests["web"].Probes[0].AttemptTimeout }, "guest web: ready[0].attempt_timeout", 2},
	{"guest web: ready.delay", "[guest.web]\n[[guest.web.ready]]\ndelay = VALUE\n", 3, delayOf, "guest web: ready[0].delay", 2},
}

// delayOf is the delay of web's first probe, a delay probe ("delay 5m0s").
func delayOf(c *Config) time.Duration {
	d, err := time.ParseDuration(strings.TrimPrefix(c.Guests["web"].Probes[0].String(), "delay "))
	if err != nil {
		return -1
	}
	return d
}

// TestDurationKeys: every duration key takes the systemd spellings, and a
// value that is not a string (stop_timeout = 5) is an error naming the
// file, the line and the key, saying to write a string with a unit.
func TestDurationKeys(t *testing.T) {
	const file = "/etc/xen/xenorder.toml"
	if !strings.Contains(strings.Join(knownKeys["defaults"], " ")+strings.Join(knownKeys["guest"], " ")+strings.Join(knownKeys["ready"], " "), "interval") {
		t.Fatal("knownKeys changed: review durationKeys")
	}
	for _, k := range durationKeys {
		t.Run(strings.ReplaceAll(k.key, " ", "_"), func(t *testing.T) {
			for _, v := range []struct {
				value string
				want  time.Duration
			}{{`"5min"`, 5 * time.Minute}, {`"1h 30min"`, 90 * time.Minute}, {`"90s"`, 90 * time.Second}} {
				cfg, err := Parse(file, []byte(strings.Replace(k.src, "VALUE", v.value, 1)))
				if err != nil {
					t.Fatalf("%s = %s: %v", k.key, v.value, err)
				}
				if got := k.get(cfg); got != v.want {
					t.Errorf("%s = %s: got %v, want %v", k.key, v.value, got, v.want)
				}
			}
			for _, v := range []struct{ value, want string }{
				{`5`, `5 is a number, not a duration: write a duration as a string with its unit, such as "90s", "5min", "1h30m" or "1h 30min" (for 5 seconds: "5s")`},
				{`2.5`, `2.5 is a number, not a duration: write a duration as a string with its unit, such as "90s", "5min", "1h30m" or "1h 30min" (for 2.5 seconds: "2.5s")`},
				{`true`, `true is a boolean, not a duration: write a duration as a string with its unit`},
				{`["5s"]`, `an array, not a duration: write a duration as a string with its unit`},
				{`1979-05-27`, `a date or time, not a duration`},
				{`"5"`, `"5" is not a duration: 5 has no unit (systemd would read seconds; xenorder wants the unit written): write 5s for seconds`},
				{`"5 mins"`, `"5 mins" is not a duration: unknown unit "mins"`},
			} {
				_, err := Parse(file, []byte(strings.Replace(k.src, "VALUE", v.value, 1)))
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("%s = %s: %v, want a *config.Error", k.key, v.value, err)
				}
				line, key := k.line, k.key
				if k.strKey != "" && strings.HasPrefix(v.value, `"`) {
					line, key = k.strLine, k.strKey
				}
				want := fmt.Sprintf("%s:%d: %s: %s", file, line, key, v.want)
				if got := ce.Error(); !strings.HasPrefix(got, want) {
					t.Errorf("%s = %s:\n got %s\nwant %s", k.key, v.value, got, want)
				}
			}
		})
	}
}

// TestDurationsListedTogether: a duration string that is not one is listed
// with every other problem of the file, each at its line.
func TestDurationsListedTogether(t *testing.T) {
	const file = "/etc/xen/xenorder.toml"
	_, err := Parse(file, []byte("[defaults]\nstop_timeout = \"5 mins\"\n[guest.web]\nstart_timeout = \"1h30\"\ndepends_on = [\"nas\"]\n"))
	want := []string{
		file + `:2: defaults: stop_timeout: "5 mins" is not a duration: unknown unit "mins"`,
		file + `:4: guest web: start_timeout: "1h30" is not a duration: 30 has no unit`,
		file + `:5: guest web: depends_on: unknown guest "nas"`,
	}
	got := strings.Split(fmt.Sprint(err), "\n")
	if len(got) != len(want) {
		t.Fatalf("got\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("got  %s\nwant %s", got[i], want[i])
		}
	}
}
