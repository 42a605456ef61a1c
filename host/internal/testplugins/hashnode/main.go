// Command hashnode is a deterministic command node for tests: it prints
// {"n_<node>": h} where h hashes the node's input state and params (not the
// execution's identity), so equal inputs give equal outputs however the
// executions were scheduled.
//
// With HASHNODE_FAIL_ONCE=<file> it exits 75 (retryable) if the file does not
// exist yet, creating it; with HASHNODE_FAIL=<node> that node exits 3.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	var in struct {
		State  json.RawMessage `json:"state"`
		Params json.RawMessage `json:"params"`
		Node   string          `json:"node"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "hashnode:", err)
		os.Exit(1)
	}
	if os.Getenv("HASHNODE_FAIL") == in.Node {
		fmt.Fprintf(os.Stderr, "hashnode: %s fails on purpose\n", in.Node)
		os.Exit(3)
	}
	if marker := os.Getenv("HASHNODE_FAIL_ONCE"); marker != "" && os.Getenv("HASHNODE_FAIL_ONCE_NODE") == in.Node {
		// Exactly one run creates the marker, and that run fails.
		if f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			f.Close()
			fmt.Fprintln(os.Stderr, "hashnode: transient failure")
			os.Exit(75)
		}
	}
	sum := sha256.Sum256(append(append([]byte{}, in.State...), in.Params...))
	out, _ := json.Marshal(map[string]string{"n_" + in.Node: fmt.Sprintf("%x", sum[:4])})
	fmt.Println(string(out))
}
