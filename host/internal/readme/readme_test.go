package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wtbench/wtb/host/internal/cli"
	"github.com/wtbench/wtb/host/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func checker(t *testing.T) *Checker {
	t.Helper()
	return &Checker{
		Root:       testbin.Root(),
		Commands:   cli.Command(),
		OtherFlags: map[string][]string{"wtb-runner-temporal worker": workerFlags(t)},
		Foreign:    []string{"node-ip-address"}, // ray start's
		Compile:    true,
		Ignore:     []string{"host/internal/readme"},
	}
}

// workerFlags are the flags `wtb-runner-temporal worker -h` lists.
func workerFlags(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command(testbin.Build(t, testbin.Temporal), "worker", "-h").CombinedOutput()
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) == 0 {
		t.Fatalf("wtb-runner-temporal worker -h lists no flags:\n%s", out)
	}
	return flags
}

// Everything README.md names exists: commands and flags, Go identifiers and
// the methods it lists, make targets, paths, links and anchors, environment
// variables; its Go blocks compile.
func TestREADMEMatchesTheCode(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testbin.Root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := Parse(string(src))
	if len(doc.Spans) < 100 || len(doc.Blocks) < 5 || len(doc.Links) < 10 {
		t.Fatalf("the parser found too little to check: %d spans, %d blocks, %d links", len(doc.Spans), len(doc.Blocks), len(doc.Links))
	}
	problems, err := checker(t).Check(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// wrong is a README that names, once each, something that does not exist.
const wrong = "# Title\n" + // 1
	"\n" +
	"Run `wtb rescor BATCH` and `wtb results --lst`.\n" + // 3
	"The kit is `conformance.Run`; the node helper is `node.Serv(fn)`.\n" + // 4
	"An environment provider implements `sdk.EnvironmentProvider` — three\n" + // 5
	"methods: `Info`, `Configure`, `CreateEnvironment`.\n" +
	"See [the example](examples/no-such-example) and [below](#no-such-heading),\n" + // 7
	"and `sdk/no-such-package`; set `WTB_NO_SUCH_VARIABLE`.\n" + // 8
	"\n" +
	"```sh\n" + // 10
	"make tset\n" + // 11
	"wtb cache stat\n" + // 12
	"bin/plugins/wtb-runner-temporal worker --adress x\n" + // 13
	"```\n" +
	"\n" +
	"```go\n" + // 16
	"package main\n" + // 17
	"\n" +
	"import \"github.com/wtbench/wtb/sdk/conformance\"\n" + // 19
	"\n" +
	"var _ = conformance.Runnr{}\n" + // 21
	"```\n" +
	"`--no-such-flag` and `run --no-such-flag`\n" // 23

// The check fails on each wrong name, at its line, with what was meant.
func TestTheCheckCatchesWhatDoesNotExist(t *testing.T) {
	problems, err := checker(t).Check(Parse(wrong))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		`README.md:3: wtb has no command "rescor". Did you mean "rescore"?`,
		`README.md:3: wtb results has no flag --lst. Did you mean "--list"?`,
		`README.md:4: conformance.Run: package conformance has no Run.`,
		`README.md:4: node.Serv: package node has no Serv. Did you mean "node.Serve"?`,
		`README.md:5: sdk.EnvironmentProvider has 6 methods, not three (CleanupEnvironment, Configure, CreateEnvironment, Info, RuntimeEnv, Shutdown)`,
		`README.md:5: sdk.EnvironmentProvider's methods are CleanupEnvironment, Configure, CreateEnvironment, Info, RuntimeEnv, Shutdown; the README lists Info, Configure, CreateEnvironment`,
		`README.md:7: examples/no-such-example does not exist.`,
		`README.md:7: link to #no-such-heading: no heading has that anchor.`,
		`README.md:8: sdk/no-such-package does not exist.`,
		`README.md:8: WTB_NO_SUCH_VARIABLE is named, but no code reads it`,
		`README.md:11: make tset: the Makefile has no such target. Did you mean "test"?`,
		`README.md:12: wtb cache has no command "stat". Did you mean "stats"?`,
		`README.md:13: wtb-runner-temporal worker has no flag --adress. Did you mean "--address"?`,
		`README.md:21: the Go block does not compile: undefined: conformance.Runnr`,
		`README.md:23: no command has a flag --no-such-flag.`,
		`README.md:23: wtb run has no flag --no-such-flag.`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Checkpoints, prefix sharing and the node cache": "checkpoints-prefix-sharing-and-the-node-cache",
		"WTB — Workflow Test Bench":                      "wtb--workflow-test-bench",
		"Running on Ray":                                 "running-on-ray",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
