// Command wtb is the Workflow Test Bench host. See `wtb --help`.
package main

import (
	"os"

	"github.com/wtbench/wtb/host/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
