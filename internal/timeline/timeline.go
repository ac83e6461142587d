// Package timeline shows where the time of a start or stop went, in the
// manner of `systemd-analyze critical-chain` and `systemd-analyze plot`: the
// chain of guests that determined the run's length, how much slack every
// other guest had, and an SVG picture of the whole run.
//
// The package only reads a Run; building one from the runner's events is the
// caller's business. Everything here is deterministic: the same Run gives the
// same chain, the same text and byte-for-byte the same SVG.
package timeline

import (
	"sort"
	"time"
)

// Span is one guest's part of a run.
type Span struct {
	Guest string   `json:"guest"`
	Deps  []string `json:"deps"` // the guests of the same run it waited for (start: its dependencies; stop: the guests that had to be gone first)
	// Began is when xenorder began working on it (start: the xl create call;
	// stop: the shutdown/save request). Zero if it never began (skipped).
	Began time.Time `json:"began"`
	// Created is, for a start, when xl create returned (zero if it never
	// did, or for a stop).
	Created time.Time `json:"created,omitempty"`
	// Ended is, for a start, when the guest was ready; for a stop, when it
	// was gone. Zero if it never got there. A failed span may carry the time
	// it failed here: it is then drawn up to that point, but it still does
	// not count as ended.
	Ended   time.Time `json:"ended"`
	Outcome string    `json:"outcome"` // "done", "already done", "failed", "skipped", "forced", "fell back", "not run"
}

// Run is one start or stop.
type Run struct {
	Verb  string    `json:"verb"` // "start" or "stop"
	Began time.Time `json:"began"`
	Ended time.Time `json:"ended"`
	Spans []Span    `json:"spans"`
}

// Link is one guest on the critical chain.
type Link struct {
	Guest  string
	At     time.Duration // Began - run.Began
	Create time.Duration // Created - Began (start only; 0 otherwise)
	Ready  time.Duration // Ended - Created for start (Ended - Began for stop, or a start without Created): the wait until ready / gone
	Total  time.Duration // Ended - Began
}

// Outcomes that mean a span never got where it was going, whatever its
// Ended says.
const (
	outcomeFailed  = "failed"
	outcomeSkipped = "skipped"
	outcomeNotRun  = "not run"
)

// hasEnded reports whether s got where it was going: ready for a start, gone
// for a stop.
func hasEnded(s Span) bool {
	if s.Ended.IsZero() || s.Began.IsZero() {
		return false
	}
	switch s.Outcome {
	case outcomeFailed, outcomeSkipped, outcomeNotRun:
		return false
	}
	return true
}

// endedSpans returns the spans of r that ended, by guest (the first span of
// a guest named twice wins), and their names sorted.
func endedSpans(r Run) (map[string]Span, []string) {
	idx := map[string]Span{}
	var names []string
	for _, s := range r.Spans {
		if _, dup := idx[s.Guest]; dup || !hasEnded(s) {
			continue
		}
		idx[s.Guest] = s
		names = append(names, s.Guest)
	}
	sort.Strings(names)
	return idx, names
}

// sortedDeps returns s's dependencies sorted, without duplicates and
// without s itself.
func sortedDeps(s Span) []string {
	deps := make([]string, 0, len(s.Deps))
	seen := map[string]bool{s.Guest: true}
	for _, d := range s.Deps {
		if !seen[d] {
			seen[d] = true
			deps = append(deps, d)
		}
	}
	sort.Strings(deps)
	return deps
}

// origin is the time the run's offsets count from: its Began, or if that is
// unset its earliest span's.
func origin(r Run) time.Time {
	if !r.Began.IsZero() {
		return r.Began
	}
	var t time.Time
	for _, s := range r.Spans {
		if !s.Began.IsZero() && (t.IsZero() || s.Began.Before(t)) {
			t = s.Began
		}
	}
	return t
}

// finish is the time the run ended: its Ended, or any later time one of its
// spans records.
func finish(r Run) time.Time {
	t := r.Ended
	for _, s := range r.Spans {
		for _, u := range []time.Time{s.Began, s.Created, s.Ended} {
			if u.After(t) {
				t = u
			}
		}
	}
	return t
}

// CriticalChain returns the chain of guests that determined the run's
// length: start from the span that ended last; then repeatedly step to the
// dependency (among its Deps that have a span with a non-zero Ended) that
// ended last — the one that gated it; stop when there is none. Returned
// first-to-last (root dependency first). Spans that never ended (failed,
// skipped) are not on the chain. Deterministic: ties are broken by guest
// name, the smaller name winning.
func CriticalChain(r Run) []Link {
	idx, names := endedSpans(r)
	var cur *Span
	for _, n := range names {
		s := idx[n]
		if cur == nil || s.Ended.After(cur.Ended) {
			cur = &s
		}
	}
	var chain []Span
	seen := map[string]bool{}
	for cur != nil && !seen[cur.Guest] {
		seen[cur.Guest] = true
		chain = append(chain, *cur)
		var next *Span
		for _, d := range sortedDeps(*cur) {
			s, ok := idx[d]
			if ok && !seen[d] && (next == nil || s.Ended.After(next.Ended)) {
				next = &s
			}
		}
		cur = next
	}
	o := origin(r)
	links := make([]Link, 0, len(chain))
	for i := len(chain) - 1; i >= 0; i-- {
		links = append(links, link(chain[i], o))
	}
	return links
}

func link(s Span, origin time.Time) Link {
	l := Link{Guest: s.Guest, At: s.Began.Sub(origin), Total: s.Ended.Sub(s.Began)}
	if !s.Created.IsZero() {
		l.Create = s.Created.Sub(s.Began)
		l.Ready = s.Ended.Sub(s.Created)
	} else {
		l.Ready = l.Total
	}
	return l
}

// Slack returns, for every span that ended, how much later it could have
// ended without making the run longer: latest allowed end minus actual end,
// where a span's latest allowed end is the run's end for spans nothing waits
// on, else the minimum over the spans that wait on it of (their latest
// allowed end minus their own duration Ended-Began). Only spans that ended
// count as waiting. Never negative (clamped at 0). Critical-chain members
// have slack 0, or the little scheduling delay between one guest being ready
// and the next being created.
func Slack(r Run) map[string]time.Duration {
	idx, names := endedSpans(r)
	end := finish(r)
	waiters := map[string][]string{}
	for _, n := range names {
		for _, d := range sortedDeps(idx[n]) {
			if _, ok := idx[d]; ok {
				waiters[d] = append(waiters[d], n)
			}
		}
	}
	latest := map[string]time.Time{}
	visiting := map[string]bool{}
	var allowed func(n string) time.Time
	allowed = func(n string) time.Time {
		if t, ok := latest[n]; ok {
			return t
		}
		if visiting[n] { // a cycle in bad input: ignore the edge that closes it
			return end
		}
		visiting[n] = true
		t := end
		for i, w := range waiters[n] {
			ws := idx[w]
			u := allowed(w).Add(-ws.Ended.Sub(ws.Began))
			if i == 0 || u.Before(t) {
				t = u
			}
		}
		visiting[n] = false
		latest[n] = t
		return t
	}
	slack := make(map[string]time.Duration, len(names))
	for _, n := range names {
		slack[n] = max(0, allowed(n).Sub(idx[n].Ended))
	}
	return slack
}
