package runner

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"time"
)

// watchReleases runs `xenstore-watch @releaseDomain` for as long as ctx
// lives: xenstored fires that watch whenever a domain is released, so a
// stop learns of a death at once instead of at its next poll. Each event
// pokes the lister's waiters. Without the program (or when it fails) the
// waits simply poll. It returns whether the watch runs.
func (r *Runner) watchReleases(ctx context.Context) bool {
	prog := r.Config.Defaults.XenstoreWatch
	if prog == "" {
		return false
	}
	cmd := exec.CommandContext(ctx, prog, "@releaseDomain")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return false
	}
	if err := cmd.Start(); err != nil {
		return false
	}
	r.watching.Store(true)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lister().poke()
		}
		r.watching.Store(false)
		r.lister().poke() // the waits go back to polling quickly
		cmd.Wait()
	}()
	return true
}

// deathCheck is how long a wait for a domain to go sleeps between looks,
// elapsed into the wait: with the watch running, a death wakes it anyway,
// so it only polls at poll_interval; without, it checks adaptively.
func (r *Runner) deathCheck(elapsed time.Duration) time.Duration {
	if r.watching.Load() {
		return r.interval()
	}
	return adaptive(elapsed, r.interval())
}
