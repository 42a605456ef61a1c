package cli

import (
	"fmt"
	"strings"

	"github.com/wtbench/wtb/host/internal/suggest"
)

func checkTextJSON(format string) error {
	if format != "text" && format != "json" {
		return unknownValue("--format", format, []string{"text", "json"})
	}
	return nil
}

// unknownValue is the usage error for a flag or argument naming none of
// options, with the one probably meant.
func unknownValue(what, got string, options []string) error {
	return exitf(ExitConfig, "unknown %s %q: use %s.%s", what, got, strings.Join(options, ", "), suggest.DidYouMean(got, options))
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func parseVars(vars []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: want name=value", v)
		}
		out[k] = val
	}
	return out, nil
}

func checkFormat(f string) error {
	switch f {
	case "table", "json", "csv":
		return nil
	}
	return exitf(ExitConfig, "unknown --format %q: use table, json or csv", f)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
