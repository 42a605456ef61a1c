// Package rayenv holds what the Ray runner and the Ray environment provider
// share: Ray's runtime_env fields, their validation and how a variant's
// runtime_env is merged over a base one, and the label that carries a
// variant's runtime_env from the provider to the runner.
package rayenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Label is the sdk.RuntimeEnv label holding a variant's runtime_env (JSON).
const Label = "ray.runtime_env"

// fields are the runtime_env fields Ray 2.x knows, with what each must be. An
// unknown field is refused before the batch rather than by Ray during it.
var fields = map[string]string{
	"working_dir": "string", "py_modules": "list", "py_executable": "string", "excludes": "list",
	"pip": "list|object", "uv": "list|object", "conda": "string|object", "env_vars": "map(string)",
	"image_uri": "string", "container": "object", "config": "object", "java_jars": "list",
	"nsight": "string|object", "rocprof_sys": "object", "mpi": "object",
}

// Fields lists the known runtime_env fields, sorted.
func Fields() []string {
	out := make([]string, 0, len(fields))
	for k := range fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Problem is one thing wrong with a runtime_env, and the field it is about.
type Problem struct {
	Field   string
	Message string
}

func (p Problem) String() string { return p.Message }

// Problems is every problem Check found.
type Problems []Problem

// String joins the messages, for a one-line error.
func (ps Problems) String() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "; ")
}

// Check reports what is wrong with a runtime_env object.
func Check(env map[string]any) Problems {
	var problems Problems
	for _, k := range sortedKeys(env) {
		v := env[k]
		want, ok := fields[k]
		if !ok {
			problems = append(problems, Problem{k, fmt.Sprintf("%q is not a Ray runtime_env field (known: %s)", k, strings.Join(Fields(), ", "))})
			continue
		}
		if !typeMatches(v, want) {
			problems = append(problems, Problem{k, fmt.Sprintf("%s must be %s", k, strings.ReplaceAll(want, "|", " or "))})
		}
	}
	if env["pip"] != nil && env["conda"] != nil {
		problems = append(problems, Problem{"conda", "pip and conda cannot both be set (Ray refuses it)"})
	}
	if env["pip"] != nil && env["uv"] != nil {
		problems = append(problems, Problem{"uv", "pip and uv cannot both be set (Ray refuses it)"})
	}
	return problems
}

// Merge returns variant merged over base the way the original
// RayEnvironmentProvider did: pip (and uv, py_modules, excludes, java_jars)
// lists concatenated, base first, without repeats; env_vars merged with the
// variant winning; any other field (working_dir, conda, ...) taken from the
// variant when it sets it. Neither argument is modified.
func Merge(base, variant map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(variant))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range variant {
		b, had := out[k]
		if !had || b == nil {
			out[k] = v
			continue
		}
		switch k {
		case "env_vars":
			m := map[string]any{}
			for ek, ev := range asMap(b) {
				m[ek] = ev
			}
			for ek, ev := range asMap(v) {
				m[ek] = ev
			}
			out[k] = m
		case "pip", "uv", "py_modules", "excludes", "java_jars":
			out[k] = concat(b, v)
		default:
			out[k] = v
		}
	}
	return out
}

// concat appends two package lists; an object form ({"packages": [...], ...})
// contributes its packages and keeps its other settings, the variant's winning.
func concat(a, b any) any {
	la, oa := packages(a)
	lb, ob := packages(b)
	seen := map[string]bool{}
	var list []any
	for _, x := range append(la, lb...) {
		key, _ := json.Marshal(x)
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		list = append(list, x)
	}
	if oa == nil && ob == nil {
		return list
	}
	obj := map[string]any{}
	for k, v := range oa {
		obj[k] = v
	}
	for k, v := range ob {
		obj[k] = v
	}
	obj["packages"] = list
	return obj
}

func packages(v any) ([]any, map[string]any) {
	switch t := v.(type) {
	case []any:
		return t, nil
	case map[string]any:
		l, _ := t["packages"].([]any)
		return l, t
	}
	return nil, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func typeMatches(v any, want string) bool {
	for _, w := range strings.Split(want, "|") {
		switch w {
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "list":
			if _, ok := v.([]any); ok {
				return true
			}
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "map(string)":
			m, ok := v.(map[string]any)
			if !ok {
				continue
			}
			all := true
			for _, x := range m {
				if _, ok := x.(string); !ok {
					all = false
				}
			}
			if all {
				return true
			}
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Localize makes the local paths of env (working_dir, py_modules entries)
// absolute, starting at dir (the bench file's directory), and checks that
// they exist: the driver uploads them from this machine. URIs and module
// names are left alone.
func Localize(env map[string]any, dir string) error {
	if wd, ok := env["working_dir"].(string); ok && !isURI(wd) {
		abs, err := existing(wd, dir)
		if err != nil {
			return fmt.Errorf("working_dir: %w", err)
		}
		env["working_dir"] = abs
	}
	if mods, ok := env["py_modules"].([]any); ok {
		out := make([]any, len(mods))
		for i, m := range mods {
			s, ok := m.(string)
			if !ok || isURI(s) || !strings.ContainsAny(s, "/.") {
				out[i] = m
				continue
			}
			abs, err := existing(s, dir)
			if err != nil {
				return fmt.Errorf("py_modules: %w", err)
			}
			out[i] = abs
		}
		env["py_modules"] = out
	}
	return nil
}

func existing(path, dir string) (string, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s does not exist on this machine (relative paths start at the bench file's directory)", path)
	}
	return path, nil
}

func isURI(s string) bool { return strings.Contains(s, "://") }
