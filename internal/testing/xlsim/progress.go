package xlsim

import (
	"fmt"
	"io"
	"time"
)

// xcProgress prints libxc's progress reports the way real xl's stderr
// logger does (tools/libs/toollog/xtl_logger_stdio.c, stdiostream_progress,
// at xl's default level): a report is printed only when its percentage
// fell, or rose by 5 or more since the last one printed, as
// "xc: progress: WHAT: DONE/TOTAL  PCT%". The saving side reports every
// 1024 pages (4 MiB) of a pass and once at its end (xg_sr_save.c,
// send_dirty_pages), and single events as 0/0 ("Start of stream", "Domain
// now suspended", "End of stream", "Complete"); most of those are never
// printed, their 0% being no change. The restoring side reports no
// progress at all: xl restore prints none, and in xl migrate all of it
// comes from the sender.
type xcProgress struct {
	w    io.Writer
	last int // the percentage last printed
}

func (p *xcProgress) report(what string, done, total int64) {
	pct := 0
	if total > 0 {
		pct = int(done * 100 / total)
	}
	if pct >= p.last && pct < p.last+5 {
		return
	}
	p.last = pct
	fmt.Fprintf(p.w, "xc: progress: %s: %d/%d  %3d%%\n", what, done, total, pct)
}

// single is xc_report_progress_single.
func (p *xcProgress) single(what string) { p.report(what, 0, 0) }

// pass sends pages pages over d, reporting as libxc does; the reports are
// spread evenly over d.
func (p *xcProgress) pass(what string, pages int64, d time.Duration) {
	start := time.Now()
	at := func(done int64) {
		if pages > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(d) * float64(done) / float64(pages)))))
		}
	}
	for done := int64(0); done < pages; done += 1024 {
		at(done)
		p.report(what, done, pages)
	}
	time.Sleep(time.Until(start.Add(d)))
	p.report(what, pages, pages)
}
