package sqlite

import "testing"

// Queries are written once with $N; SQLite binds ?N to the Nth argument
// wherever it stands, and quoted text keeps its dollars.
func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT 1":                            "SELECT 1",
		"WHERE a = $1 AND (b = $2 OR b = $1)": "WHERE a = ?1 AND (b = ?2 OR b = ?1)",
		"(c.output -> '$') WHERE x = $12":     "(c.output -> '$') WHERE x = ?12",
		`SELECT "$1", '$2 it''s', $3`:         `SELECT "$1", '$2 it''s', ?3`,
		"SELECT $ FROM t WHERE v = $1 || '$'": "SELECT $ FROM t WHERE v = ?1 || '$'",
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}
