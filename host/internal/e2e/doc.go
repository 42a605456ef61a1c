// Package e2e holds end-to-end tests that drive the built wtb binary and real
// plugin processes against real SQLite files, as a user would.
package e2e
