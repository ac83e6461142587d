package probe

import (
	"context"
	"errors"
	"fmt"
	"time"
)

type delayProbe struct {
	d time.Duration
}

// Delay returns a probe that passes once d has passed since Target.Since.
// It never waits: until then Check fails with e.g. "12s of 45s".
func Delay(d time.Duration) (Probe, error) {
	if d <= 0 {
		return nil, fmt.Errorf("delay probe: delay %v must be positive", d)
	}
	return &delayProbe{d: d}, nil
}

func (p *delayProbe) Check(ctx context.Context, t Target) error {
	if t.Since.IsZero() {
		return errors.New("start time unknown")
	}
	elapsed := time.Since(t.Since)
	if elapsed >= p.d {
		return nil
	}
	unit := time.Second
	if p.d < 10*time.Second {
		unit = time.Millisecond
	}
	return fmt.Errorf("%v of %v", max(elapsed, 0).Truncate(unit), p.d)
}

func (p *delayProbe) String() string { return "delay " + p.d.String() }
func (p *delayProbe) Kind() string   { return KindDelay }
