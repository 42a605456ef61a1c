package childproc

import (
	"strings"
	"sync"
)

// Tail keeps the last lines a child process wrote — what an error message
// about it should quote. It is safe for concurrent use. Lines given to Add
// are kept as they are; text written through Write is split into lines,
// trimmed, and empty lines are dropped. Lines longer than the width are cut.
type Tail struct {
	mu    sync.Mutex
	lines []string
	part  string // Write's unfinished last line
	max   int
	width int
}

// NewTail keeps the last max lines, each cut to width bytes.
func NewTail(max, width int) *Tail { return &Tail{max: max, width: width} }

// Add keeps one line.
func (t *Tail) Add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(line)
}

func (t *Tail) add(line string) {
	if len(line) > t.width {
		line = line[:t.width] + "…"
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// Write keeps the lines of p (an io.Writer for a process's stderr).
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	parts := strings.Split(t.part+string(p), "\n")
	t.part = parts[len(parts)-1]
	for _, line := range parts[:len(parts)-1] {
		if line = strings.TrimSpace(line); line != "" {
			t.add(line)
		}
	}
	return len(p), nil
}

// Lines returns the lines kept, oldest first, with Write's unfinished line.
func (t *Tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string(nil), t.lines...)
	if part := strings.TrimSpace(t.part); part != "" {
		lines = append(lines, part)
	}
	return lines
}
