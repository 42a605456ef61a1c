package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/wtbench/wtb/host/internal/dbfiles"
	"github.com/wtbench/wtb/host/internal/spec"
)

// HashFile returns the SHA-256 of a file's contents in hex, "missing", or
// "sqlite-database" for a database, which is never read (see package
// dbfiles) and whose contents change with every batch anyway.
func HashFile(path string) string {
	if _, err := os.Stat(path); err != nil {
		return "missing"
	}
	h := sha256.New()
	database, err := dbfiles.Copy(h, path)
	switch {
	case database:
		return "sqlite-database"
	case err != nil:
		return "unreadable"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HashFiles hashes the contents of files as they are now.
func HashFiles(paths []string) string { return combine(paths, HashFile) }

// portableIdentity is a node's configuration and the contents of the files
// its command names, with every path under the bench file's directory
// written relative to it.
func (p *Planner) portableIdentity(r spec.Resolved) string {
	dir := p.Batch.Dir
	files := append([]string(nil), r.Files...)
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%s\x00", spec.RelativeTo(dir, f), p.fileContent(f))
	}
	return spec.HashStrings(r.PortableHash(dir), hex.EncodeToString(h.Sum(nil)[:16]))
}

// fileContent is the hash of a file's contents the batch recorded, or the
// file's as it is now when the batch recorded none (as FileHasher's
// default).
func (p *Planner) fileContent(path string) string {
	if p.Batch.FileHashes != nil {
		if h, ok := p.Batch.FileHashes[path]; ok {
			return h
		}
		return "unrecorded"
	}
	return HashFile(path)
}

// StoredHashes hashes files by the contents recorded for a batch (see
// RecordFiles), so a stored batch is planned as it ran, not as the files are
// now.
func StoredHashes(recorded map[string]string) func([]string) string {
	return func(paths []string) string {
		return combine(paths, func(p string) string {
			if h, ok := recorded[p]; ok {
				return h
			}
			return "unrecorded"
		})
	}
}

func combine(paths []string, hashOf func(string) string) string {
	if len(paths) == 0 {
		return ""
	}
	sorted := append([]string(nil), paths...)
	sort.Strings(sorted)
	h := sha256.New()
	for _, p := range sorted {
		fmt.Fprintf(h, "%s\x00%s\x00", p, hashOf(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// RecordFiles stores in the batch the hash of every file its nodes' commands
// name, as the files are now: what the batch runs with.
func RecordFiles(b *spec.Batch) {
	b.FileHashes = map[string]string{}
	for _, p := range b.Scripts() {
		b.FileHashes[p] = HashFile(p)
	}
	b.EnvFiles = nil
	for _, p := range EnvironmentPaths(b) {
		if b.EnvFiles == nil {
			b.EnvFiles = map[string]string{}
		}
		b.EnvFiles[p] = HashTree(p)
	}
}

// FileChange is a file a stored batch ran with that is different now.
type FileChange struct {
	Path string
	// Nodes names the node (and variant) using it, e.g. `answer` or `answer (variant terse)`.
	Nodes []string
}

// ChangedFiles lists the files recorded for b whose contents differ now.
func ChangedFiles(b *spec.Batch) []FileChange {
	var out []FileChange
	for _, p := range spec.SortedKeys(b.FileHashes) {
		if HashFile(p) != b.FileHashes[p] {
			out = append(out, FileChange{Path: p, Nodes: b.UsersOf(p)})
		}
	}
	for _, p := range spec.SortedKeys(b.EnvFiles) {
		if HashTree(p) != b.EnvFiles[p] {
			out = append(out, FileChange{Path: p, Nodes: []string{"named by the environment, so every node"}})
		}
	}
	return out
}

// CacheKey is the node cache key of a step given its parent's state. It covers
// everything the node can read (see executor.NodeInput): the input state, the
// case, the repeat, the variants of the nodes up to this one, the node's
// configuration and the contents of the files it names, and its runtime
// environment (the variant's environment settings and the environment block).
// Two node runs with the same key are interchangeable; nothing else may be
// added to what a node sees without adding it here.
func (p *Planner) CacheKey(parentState []byte, st *Step) string {
	ex := st.Executions[0]
	stateSum := sha256.Sum256(parentState)
	inputSum := sha256.Sum256(ex.Case.Input)
	var prefix []string
	for s := st; s != nil; s = s.Parent {
		if s.Node.Variant != "" {
			prefix = append(prefix, s.Node.Name+"="+s.Node.Variant)
		}
	}
	sort.Strings(prefix)
	envBlock := ""
	if e := p.Batch.Environment; e != nil {
		envBlock = e.Plugin + "\x00" + string(e.Config)
	}
	parts := []string{"cache-v2", hex.EncodeToString(stateSum[:]), st.Node.Name, st.Node.ConfigHash, st.FilesHash,
		string(p.EnvSpecs[ex.EnvKey].Spec), envBlock, ex.Case.ID, hex.EncodeToString(inputSum[:]), fmt.Sprint(ex.Repeat),
		strings.Join(prefix, ",")}
	// Only batches whose environment names local files get the extra part:
	// the keys of every other batch stay what they were.
	if c := p.environmentContent(ex.EnvKey); c != "" {
		parts = append(parts, "env-content", c)
	}
	// The upstreams a node calls are part of what it computes; batches
	// without a gateway keep the keys they had.
	if g := p.Batch.Gateway; g != nil {
		parts = append(parts, "gateway", g.CacheIdentity())
	}
	return spec.HashStrings(parts...)
}

// environmentContent is the hash of the local files the environment of key
// names, computed once per planner (a batch sees one version of them).
func (p *Planner) environmentContent(key string) string {
	p.contentMu.Lock()
	defer p.contentMu.Unlock()
	c, ok := p.content[key]
	if !ok {
		var envBlock []byte
		if e := p.Batch.Environment; e != nil {
			envBlock = e.Config
		}
		c = environmentContent(p.pathHash, p.Batch.Dir, p.Batch.Runner.Config, envBlock, p.EnvSpecs[key].Spec)
		p.content[key] = c
	}
	return c
}

// pathHash hashes a path the environment names once per planner (a base
// working_dir is named by every environment): from what the batch recorded
// when it is a stored one, so it is planned with the contents it ran with.
func (p *Planner) pathHash(path string) string {
	h, ok := p.pathHashes[path]
	if !ok {
		if h, ok = p.Batch.EnvFiles[path]; !ok {
			h = HashTree(path)
		}
		p.pathHashes[path] = h
	}
	return h
}
