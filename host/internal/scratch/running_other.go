//go:build !unix

package scratch

// running cannot tell here: every directory is taken to be in use.
func running(int) bool { return true }
