package sched

import (
	"fmt"
	"time"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// runLog keeps the last lines of one node run's log within a byte budget:
// a node that prints a gigabyte costs the host its budget, not the gigabyte.
type runLog struct {
	max     int
	lines   []store.LogLine
	bytes   int
	dropped int
}

func (l *runLog) add(stream sdk.LogStream, line string, at time.Time) {
	if l.max <= 0 {
		return
	}
	if len(line) > l.max {
		line = line[len(line)-l.max:]
	}
	l.lines = append(l.lines, store.LogLine{Time: at, Stream: streamName(stream), Line: line})
	l.bytes += len(line)
	for l.bytes > l.max {
		l.bytes -= len(l.lines[0].Line)
		l.lines[0] = store.LogLine{} // let the string go
		l.lines = l.lines[1:]
		l.dropped++
	}
}

// entries are the kept lines, after a note of how many earlier ones were
// dropped.
func (l *runLog) entries() []store.LogLine {
	if l == nil || len(l.lines) == 0 {
		return nil
	}
	out := make([]store.LogLine, 0, len(l.lines)+1)
	if l.dropped > 0 {
		out = append(out, store.LogLine{Time: l.lines[0].Time, Stream: store.StreamWTB,
			Line: fmt.Sprintf("… %d earlier lines not kept (max_log_bytes = %d)", l.dropped, l.max)})
	}
	return append(out, l.lines...)
}

func streamName(s sdk.LogStream) string {
	if s == sdk.LogStderr {
		return store.StreamStderr
	}
	return store.StreamRunner
}
