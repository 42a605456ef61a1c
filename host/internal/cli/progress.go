package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/numfmt"
)

// progress shows done/total, failures, load, rate and ETA: a bar on a
// terminal; otherwise (CI logs) a status line at a fixed interval, also while
// nothing finishes, so a batch of long nodes never leaves a log silent.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu        sync.Mutex
	total     int
	succeeded int
	failed    int
	inFlight  int
	queued    int
	start     time.Time
	pool      *mpb.Progress
	bar       *mpb.Bar
	stop      chan struct{}
	stopped   chan struct{}
}

// The scheduler finds SetTotal and Load by type assertion: a signature that
// drifted would turn them off without a word, so the compiler holds them.
var (
	_ application.Progress     = (*progress)(nil)
	_ application.Retotaler    = (*progress)(nil)
	_ application.LoadReporter = (*progress)(nil)
)

// DefaultProgressEvery is how often a status line is printed when output is
// not a terminal.
const DefaultProgressEvery = 10 * time.Second

func newProgress(w io.Writer, tty bool, every time.Duration) *progress {
	if every <= 0 {
		every = DefaultProgressEvery
	}
	return &progress{w: w, tty: tty, every: every}
}

func (p *progress) Start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// One progress serves every batch of a command (parity runs two): each
	// starts from zero.
	p.total, p.start = total, time.Now()
	p.succeeded, p.failed, p.inFlight, p.queued = 0, 0, 0, 0
	p.pool, p.bar, p.stop, p.stopped = nil, nil, nil, nil
	if total == 0 {
		return
	}
	if !p.tty {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.heartbeat()
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
				return fmt.Sprintf(" %d failed, %d in flight", p.failed, p.inFlight)
			}),
			decor.Any(func(decor.Statistics) string { return "  " + p.rateLocked() }),
			decor.Name("  ETA "), decor.AverageETA(decor.ET_STYLE_GO),
		),
	)
}

func (p *progress) heartbeat() {
	defer close(p.stopped)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.mu.Lock()
			p.printLine()
			p.mu.Unlock()
		case <-p.stop:
			return
		}
	}
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
	return fmt.Sprintf("%.1f/s", float64(p.succeeded+p.failed)/el)
}

func (p *progress) Add(succeeded, failed int) {
	p.mu.Lock()
	p.succeeded += succeeded
	p.failed += failed
	bar := p.bar
	p.mu.Unlock()
	if bar != nil {
		bar.IncrBy(succeeded + failed)
	}
}

// SetTotal implements application.Retotaler: combinations stopped early shrink the
// batch.
func (p *progress) SetTotal(total int) {
	p.mu.Lock()
	p.total = total
	bar := p.bar
	p.mu.Unlock()
	if bar != nil {
		bar.SetTotal(int64(total), false)
	}
}

// Load implements application.LoadReporter.
func (p *progress) Load(inFlight, queued int) {
	p.mu.Lock()
	p.inFlight, p.queued = inFlight, queued
	p.mu.Unlock()
}

func (p *progress) printLine() {
	done := p.succeeded + p.failed
	eta := numfmt.Dash
	if done > 0 && done < p.total {
		per := time.Since(p.start) / time.Duration(done)
		eta = numfmt.Elapsed(per * time.Duration(p.total-done))
	}
	pct := numfmt.Percent(0)
	if p.total > 0 {
		pct = numfmt.Percent(float64(done) / float64(p.total))
	}
	fmt.Fprintf(p.w, "progress: %d/%d executions (%s), %d failed, %d in flight, %d queued, %s, ETA %s, %s elapsed\n",
		done, p.total, pct, p.failed, p.inFlight, p.queued, p.rate(), eta, numfmt.Elapsed(time.Since(p.start)))
}

func (p *progress) Finish() {
	p.mu.Lock()
	pool, bar, stop := p.pool, p.bar, p.stop
	p.mu.Unlock()
	if bar != nil {
		// An interrupted batch ends short of its total.
		bar.Abort(false)
		pool.Wait()
		return
	}
	if stop != nil {
		close(stop)
		<-p.stopped
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total > 0 {
		p.inFlight, p.queued = 0, 0
		p.printLine()
	}
}
