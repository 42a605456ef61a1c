// Package suggest finds the name a user probably meant when a name they
// wrote refers to nothing: the "Did you mean …?" of every diagnostic and
// error that names an unknown evaluator, node, variant, runner, batch, flag
// value or setting.
package suggest

import (
	"fmt"
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
