package main

import (
	"strings"
	"testing"
)

const inProcess = `mode: atomic
github.com/wtbench/wtb/host/a/a.go:1.1,2.2 3 1
github.com/wtbench/wtb/host/a/a.go:3.1,4.2 2 0
github.com/wtbench/wtb/host/a/a.go:3.1,4.2 2 0
github.com/wtbench/wtb/sdk/b/b.go:1.1,2.2 4 0
github.com/wtbench/wtb/host/internal/testbin/t.go:1.1,2.2 5 1
`

const binaries = `mode: atomic
github.com/wtbench/wtb/host/a/a.go:3.1,4.2 2 7
github.com/wtbench/wtb/plugins/c/main.go:1.1,2.2 1 1
`

// A block run only by a binary counts as covered; repeated blocks count
// once; test infrastructure is left out; totals are per tree.
func TestMergedFigures(t *testing.T) {
	a, err := readProfile(strings.NewReader(inProcess))
	if err != nil {
		t.Fatal(err)
	}
	b, err := readProfile(strings.NewReader(binaries))
	if err != nil {
		t.Fatal(err)
	}
	r := summarize(a, b, merge(a, b))
	if got, want := r.figures["host/a"], (figure{stmts: 5, inProcess: 3, binaries: 2, merged: 5}); got != want {
		t.Errorf("host/a: %+v, want %+v", got, want)
	}
	if got, want := r.figures["sdk/b"], (figure{stmts: 4}); got != want {
		t.Errorf("sdk/b: %+v, want %+v", got, want)
	}
	if got, want := r.totals["plugins/"], (figure{stmts: 1, binaries: 1, merged: 1}); got != want {
		t.Errorf("plugins/: %+v, want %+v", got, want)
	}
	if _, ok := r.figures["host/internal/testbin"]; ok || r.totals["host/"].stmts != 5 {
		t.Errorf("test infrastructure was counted: %+v", r.totals["host/"])
	}
	var out strings.Builder
	printReport(&out, r)
	for _, want := range []string{"host/a", "100.0%", "sdk/b", "0.0%", "host/ + sdk/ + plugins/", "not counted (test infrastructure): host/internal/testbin"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadProfileLine(t *testing.T) {
	_, err := readProfile(strings.NewReader("mode: atomic\nnot a profile\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("got %v, want an error naming line 2", err)
	}
}
