// Package suggest finds the name a user probably meant when a name they
// wrote refers to nothing: the "Did you mean …?" of every diagnostic and
// error that names an unknown evaluator, node, variant, runner, batch, flag
// value or setting.
package suggest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// maxDistance is how many edits apart a name and a suggestion may be: one
// typo (a letter missing, doubled, swapped or wrong) or two.
const maxDistance = 2

// Closest returns the option closest to got, or "" when none is close enough
// to be what was meant. Ties go to the option first in sorted order, so the
// same mistake always gets the same suggestion.
func Closest(got string, options []string) string {
	sorted := append([]string(nil), options...)
	sort.Strings(sorted)
	best, bestDist := "", maxDistance+1
	for _, o := range sorted {
		if o == got {
			continue
		}
		d := levenshtein.Distance(got, o, nil)
		if strings.EqualFold(got, o) {
			d = 0
		}
		// A name of one or two letters is "close" to every other short name;
		// only suggest when fewer edits are needed than the name has letters.
		if d < bestDist && d < len([]rune(got)) {
			best, bestDist = o, d
		}
	}
	return best
}

// DidYouMean is ` Did you mean "x"?` for the closest option, or "": ready to
// append to a sentence.
func DidYouMean(got string, options []string) string {
	if best := Closest(got, options); best != "" {
		return fmt.Sprintf(" Did you mean %q?", best)
	}
	return ""
}

// File is ` Did you mean "x"?` for a file beside path whose name is close to
// path's (bench.hlc for bench.hcl, cases.josnl), written as path was
// (relative stays relative); "" when there is none or the directory cannot
// be read. dir is what a relative path is relative to ("" for the working
// directory).
func File(dir, path string) string {
	parent, name := filepath.Split(path)
	full := parent
	if !filepath.IsAbs(path) && dir != "" {
		full = filepath.Join(dir, parent)
	}
	if full == "" {
		full = "."
	}
	entries, err := os.ReadDir(full)
	if err != nil {
		return ""
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if best := Closest(name, names); best != "" {
		return fmt.Sprintf(" Did you mean %q?", parent+best)
	}
	return ""
}
