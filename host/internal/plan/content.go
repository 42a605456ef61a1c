package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/dbfiles"
	"github.com/wtbench/wtb/host/internal/spec"
)

// environmentContent hashes the local files and directories that the
// environment of a combination names — a Ray working_dir or py_modules, a
// setup script — so the node cache key changes when their contents do, not
// only when their paths do. Any string in the runner block, the environment
// block or the variant's environment settings that names an existing path
// (relative to the bench file) counts: a plugin's settings are opaque to the
// host, and a path hashed needlessly costs a cache miss at worst, while one
// left out serves a stale result. "" when nothing names a local path.
func environmentContent(hashOf func(string) string, dir string, docs ...[]byte) string {
	paths := environmentPaths(dir, docs...)
	if len(paths) == 0 {
		return ""
	}
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "path\x00%s\x00%s\x00", p, hashOf(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// environmentPaths lists, sorted, the existing local paths the documents name.
func environmentPaths(dir string, docs ...[]byte) []string {
	seen := map[string]bool{}
	var paths []string
	for _, doc := range docs {
		var v any
		if len(doc) == 0 || json.Unmarshal(doc, &v) != nil {
			continue
		}
		eachString(v, func(s string) {
			if s == "" || len(s) > 4096 || strings.Contains(s, "://") || strings.ContainsAny(s, "\n\x00") {
				return
			}
			p := s
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			p = filepath.Clean(p)
			if seen[p] {
				return
			}
			if _, err := os.Stat(p); err == nil {
				seen[p] = true
				paths = append(paths, p)
			}
		})
	}
	sort.Strings(paths)
	return paths
}

// EnvironmentPaths lists the local files and directories a batch's
// environments name: in the runner block, the environment block and every
// combination's variant environment settings.
func EnvironmentPaths(b *spec.Batch) []string {
	docs := [][]byte{b.Runner.Config}
	if b.Environment != nil {
		docs = append(docs, b.Environment.Config)
	}
	for _, c := range b.Combinations {
		docs = append(docs, b.EnvironmentSpec(c))
	}
	return environmentPaths(b.Dir, docs...)
}

// HashTree is the SHA-256 of a file, or of a directory's files (names and
// contents), in hex.
func HashTree(path string) string {
	h := sha256.New()
	hashTree(h, path)
	return hex.EncodeToString(h.Sum(nil))
}

func eachString(v any, f func(string)) {
	switch t := v.(type) {
	case string:
		f(t)
	case []any:
		for _, x := range t {
			eachString(x, f)
		}
	case map[string]any:
		for _, x := range t {
			eachString(x, f)
		}
	}
}

// hashTree writes every regular file under root (or root itself) with its
// path and contents, symlinks by target, in a fixed order. SQLite databases
// and their journals are left out unread: a database beside the bench file
// changes on every run, and closing a descriptor of the host's own database
// would release its locks (see package dbfiles).
func hashTree(h io.Writer, root string) {
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, path)
		if err != nil {
			fmt.Fprintf(h, "error\x00%s\x00", rel)
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			fmt.Fprintf(h, "link\x00%s\x00%s\x00", rel, target)
		case d.Type().IsRegular():
			var content bytes.Buffer
			if database, _ := dbfiles.Copy(&content, path); database {
				return nil
			}
			fmt.Fprintf(h, "file\x00%s\x00", rel)
			_, _ = h.Write(content.Bytes())
			fmt.Fprint(h, "\x00")
		}
		return nil
	})
}
