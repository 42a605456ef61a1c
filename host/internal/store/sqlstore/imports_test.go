package sqlstore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The repositories are written once for every backend: sqlstore speaks to
// a database only through its Conn and Dialect, never through a driver.
func TestNoDriver(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "github.com/wtbench/wtb/host/internal/store/sqlstore").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "database/sql") || strings.Contains(imp, "pgx") || strings.HasPrefix(imp, "modernc.org/") ||
			strings.HasSuffix(imp, "/store/sqlite") || strings.HasSuffix(imp, "/store/postgres") {
			t.Errorf("sqlstore imports %s; a driver belongs to its backend package", imp)
		}
	}
}
