package spec

import (
	"encoding/json"
	"strings"
)

// Resolved is a node as it runs in one combination: the node with its chosen
// variant applied.
type Resolved struct {
	Name           string            `json:"name"`
	Kind           string            `json:"kind"`
	Variant        string            `json:"variant,omitempty"`
	Command        []string          `json:"command,omitempty"`
	DependsOn      []string          `json:"depends_on,omitempty"`
	Params         json.RawMessage   `json:"params"`
	Env            map[string]string `json:"env,omitempty"`
	Timeout        Duration          `json:"timeout,omitempty"`
	MaxOutputBytes int64             `json:"max_output_bytes,omitempty"`
	Files          []string          `json:"files,omitempty"`
	Cache          bool              `json:"-"`
	Worker         *Worker           `json:"-"`
	// ConfigHash identifies the configuration above (not file contents).
	ConfigHash string `json:"-"`
}

// Resolve applies variant (may be "") to the node.
func (n *Node) Resolve(variant string, batchCache bool) Resolved {
	r := Resolved{Name: n.Name, Kind: n.Kind, Command: n.Command, DependsOn: n.DependsOn, Params: n.Params,
		Env: n.Env, Timeout: n.Timeout, MaxOutputBytes: n.MaxOutputBytes, Files: n.Files, Cache: batchCache, Worker: n.Worker}
	if n.Cache != nil {
		r.Cache = *n.Cache
	}
	if v := n.Variant(variant); v != nil {
		r.Variant = v.Name
		if v.Kind != "" {
			r.Kind = v.Kind
		}
		if v.Command != nil {
			r.Command = v.Command
			r.Files = v.Files
		}
		if v.Params != nil {
			r.Params = v.Params
		}
		if v.Env != nil {
			r.Env = v.Env
		}
		if v.Timeout != 0 {
			r.Timeout = v.Timeout
		}
		if v.Worker != nil {
			r.Worker = v.Worker
		}
	}
	if len(r.Params) == 0 {
		r.Params = json.RawMessage("{}")
	}
	r.ConfigHash = hashJSON(r)
	return r
}

// PortableHash identifies the configuration as ConfigHash does, with every
// path under dir (the bench file's directory) written relative to it — in
// the command, the files it names and the environment variables: the same
// node in another checkout of the repository (a CI runner's, a colleague's)
// has the same PortableHash and another ConfigHash.
func (r Resolved) PortableHash(dir string) string {
	if dir == "" {
		return hashJSON(r)
	}
	rel := func(s string) string { return RelativeTo(dir, s) }
	c := r
	c.Command = mapStrings(r.Command, rel)
	c.Files = mapStrings(r.Files, rel)
	if r.Env != nil {
		c.Env = make(map[string]string, len(r.Env))
		for k, v := range r.Env {
			c.Env[k] = rel(v)
		}
	}
	return hashJSON(c)
}

// RelativeTo writes path relative to dir when it is dir or under it
// ("./agent.py"), and leaves it as it is otherwise.
func RelativeTo(dir, path string) string {
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case dir == "":
		return path
	case path == dir:
		return "."
	case strings.HasPrefix(path, dir+"/"):
		return "./" + path[len(dir)+1:]
	}
	return path
}

func mapStrings(in []string, f func(string) string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}
