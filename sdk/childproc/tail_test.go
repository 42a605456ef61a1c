package childproc

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestTailKeepsTheLastLines(t *testing.T) {
	tail := NewTail(3, 10)
	for i := 0; i < 5; i++ {
		tail.Add(fmt.Sprint("line ", i))
	}
	tail.Add(strings.Repeat("x", 12))
	if got, want := tail.Lines(), []string{"line 3", "line 4", "xxxxxxxxxx…"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Add: got %q, want %q", got, want)
	}

	w := NewTail(2, 100)
	_, _ = w.Write([]byte("first\n\n  second  \nthi"))
	_, _ = w.Write([]byte("rd\nfourth, unfinished"))
	if got, want := w.Lines(), []string{"second", "third", "fourth, unfinished"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Write: got %q, want %q", got, want)
	}
}
