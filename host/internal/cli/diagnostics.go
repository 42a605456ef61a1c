package cli

import (
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/wtbench/wtb/host/internal/diagnostic"
)

// printDiagnostics renders diagnostics with file:line:col and a source snippet.
func (a *app) printDiagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) == 0 {
		return
	}
	diagnostic.Write(a.stderr, files, diags, diagnostic.Options{Color: !a.noColor && isTerminal(a.stderr)})
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
