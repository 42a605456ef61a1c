package pluginhost_test

import (
	"os"
	"testing"

	"github.com/wtbench/wtb/host/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
