package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress shows done/total, failures, rate and ETA: a bar on a terminal,
// a plain line every few seconds otherwise (CI logs).
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu        sync.Mutex
	total     int
	succeeded int
	failed    int
	start     time.Time
	lastLine  time.Time
	pool      *mpb.Progress
	bar       *mpb.Bar
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, every: 5 * time.Second}
}

func (p *progress) Start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.start, p.lastLine = total, time.Now(), time.Now()
	if !p.tty || total == 0 {
		return
	}
	p.pool = mpb.New(mpb.WithOutput(p.w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	p.bar = p.pool.AddBar(int64(total),
		mpb.PrependDecorators(
			decor.Name("executions ", decor.WC{C: decor.DindentRight}),
			decor.CountersNoUnit("%d/%d", decor.WCSyncWidth),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string {
				p.mu.Lock()
				defer p.mu.Unlock()
				return fmt.Sprintf(" %d failed", p.failed)
			}),
			decor.Any(func(decor.Statistics) string { return "  " + p.rateLocked() }),
			decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO),
		),
	)
}

func (p *progress) rateLocked() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rate()
}

func (p *progress) rate() string {
	el := time.Since(p.start).Seconds()
	if el <= 0 {
		return "0/s"
	}
	return fmt.Sprintf("%.0f/s", float64(p.succeeded+p.failed)/el)
}

func (p *progress) Add(succeeded, failed int) {
	p.mu.Lock()
	p.succeeded += succeeded
	p.failed += failed
	line := !p.tty && time.Since(p.lastLine) >= p.every
	if line {
		p.lastLine = time.Now()
		p.printLine()
	}
	bar := p.bar
	p.mu.Unlock()
	if bar != nil {
		bar.IncrBy(succeeded + failed)
	}
}

func (p *progress) printLine() {
	done := p.succeeded + p.failed
	eta := "-"
	if done > 0 && done < p.total {
		per := time.Since(p.start) / time.Duration(done)
		eta = (per * time.Duration(p.total-done)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "progress: %d/%d executions, %d failed, %s, ETA %s\n", done, p.total, p.failed, p.rate(), eta)
}

func (p *progress) Finish() {
	p.mu.Lock()
	pool, bar := p.pool, p.bar
	p.mu.Unlock()
	if bar != nil {
		// An interrupted batch ends short of its total.
		bar.Abort(false)
		pool.Wait()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total > 0 {
		p.printLine()
	}
}
