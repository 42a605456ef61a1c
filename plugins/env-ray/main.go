// Command wtb-env-ray is WTB's Ray environment provider (`plugin = "ray"` in
// an environment block): it merges a base Ray runtime_env with each variant's
// the way the original RayEnvironmentProvider did, checks it against Ray's
// runtime_env fields before the batch starts, and hands it to the Ray runner,
// which applies it to the actors that run that variant.
package main

import "github.com/wtbench/wtb/sdk/serve"

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	serve.Environment(newProvider())
}
