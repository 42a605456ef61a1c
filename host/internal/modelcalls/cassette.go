package modelcalls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/wtbench/wtb/host/internal/store"
	"github.com/wtbench/wtb/sdk"
)

// CassetteVersion is the format of cassette files.
const CassetteVersion = 1

// Cassette is one node run's recorded calls as a file to commit: written by
// `wtb cassettes export`, replayed by a gateway block's cassettes = "DIR".
// Its JSON is stable — fixed field order, sorted maps, bodies indented as
// they were sent, no timestamps — so a re-recording's git diff shows what
// changed in the calls and nothing else.
type Cassette struct {
	Version int `json:"wtb_cassette"`
	// RunKey is the node run's identity: what replay looks it up by.
	RunKey string `json:"run_key"`
	Node   string `json:"node"`
	Case   string `json:"case"`
	Repeat int    `json:"repeat"`
	// Variants are the variants of the nodes up to this one.
	Variants map[string]string `json:"variants,omitempty"`
	// Execution names the execution when the batch shared no prefixes (each
	// execution ran its own copy of this node).
	Execution string `json:"execution,omitempty"`
	// Batch recorded it.
	Batch string         `json:"batch"`
	Calls []CassetteCall `json:"calls"`
}

// CassetteCall is one call in a cassette.
type CassetteCall struct {
	Ordinal  int    `json:"ordinal"`
	Upstream string `json:"upstream"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Query    string `json:"query,omitempty"`
	Model    string `json:"model,omitempty"`
	// MatchKey is the hash replay matched on when it was recorded (replay
	// computes it again, so a changed matching rule applies).
	MatchKey string   `json:"match_key"`
	Request  Request  `json:"request"`
	Status   int      `json:"status"`
	Streamed bool     `json:"streamed,omitempty"`
	Response Response `json:"response"`
	Error    string   `json:"error,omitempty"`
}

// cassetteRequestHeaders and cassetteResponseHeaders are the headers a
// cassette keeps (beside the ones matching uses): what can change what an
// upstream answers or how a client reads it. The rest (user agents, dates,
// request ids) changes with every recording and would bury a re-recording's
// diff in noise; the database keeps them.
var (
	cassetteRequestHeaders  = []string{"content-type", "accept", "anthropic-version", "anthropic-beta", "openai-beta"}
	cassetteResponseHeaders = []string{"content-type", "retry-after"}
)

func keepHeaders(h map[string]string, keep []string, prefixes ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if slices.Contains(keep, k) {
			out[k] = v
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

// CassetteOf builds a node run's cassette from its stored calls; matched
// are the headers matching uses (kept with the requests).
func CassetteOf(calls []store.ModelCall, matched []string) Cassette {
	c := Cassette{Version: CassetteVersion}
	if len(calls) > 0 {
		c.RunKey, c.Node, c.Batch = calls[0].RunKey, calls[0].Node, calls[0].BatchID
	}
	for _, m := range calls {
		var req Request
		var resp Response
		_ = json.Unmarshal(m.Request, &req)
		_ = json.Unmarshal(m.Response, &resp)
		lower := make([]string, len(matched))
		for i, h := range matched {
			lower[i] = strings.ToLower(h)
		}
		req.Headers = keepHeaders(req.Headers, append(lower, cassetteRequestHeaders...))
		resp.Headers = keepHeaders(resp.Headers, cassetteResponseHeaders, "x-ratelimit-")
		c.Calls = append(c.Calls, CassetteCall{Ordinal: m.Ordinal, Upstream: m.Upstream, Method: m.Method, Path: m.Path,
			Query: m.Query, Model: m.Model, MatchKey: m.MatchKey, Request: req, Status: m.Status, Streamed: m.Streamed,
			Response: resp, Error: m.Error})
	}
	return c
}

// Interactions are the cassette's calls, to replay.
func (c Cassette) Interactions() []sdk.Interaction {
	out := make([]sdk.Interaction, len(c.Calls))
	for i, k := range c.Calls {
		x := sdk.Interaction{Ordinal: k.Ordinal, Upstream: k.Upstream, Method: k.Method, Path: k.Path, Query: k.Query,
			RequestHeaders: k.Request.Headers, RequestBody: k.Request.Bytes(), Status: k.Status, ResponseHeaders: k.Response.Headers,
			ResponseBody: k.Response.Bytes(), Streamed: k.Streamed, Source: sdk.SourceRecorded, Error: k.Error,
			MatchKey: k.MatchKey, Model: k.Model}
		for _, ch := range k.Response.Chunks {
			x.Chunks = append(x.Chunks, sdk.Chunk{Data: ch.Bytes(), Offset: dur(ch.AtMs)})
		}
		out[i] = x
	}
	return out
}

// Encode writes the cassette as stable, indented JSON.
func (c Cassette) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Path is where the cassette lives in an export directory, readable and the
// same for every recording of the same node run:
// CASE/rREPEAT/NODE/VARIANTS[@EXECUTION].json.
func (c Cassette) Path() string {
	var vs []string
	for n, v := range c.Variants {
		vs = append(vs, n+"="+v)
	}
	sort.Strings(vs)
	name := strings.Join(vs, ",")
	if name == "" {
		name = "_"
	}
	if c.Execution != "" {
		name += "@" + c.Execution
	}
	return filepath.Join(pathPart(c.Case), fmt.Sprintf("r%d", c.Repeat), pathPart(c.Node), pathPart(name)+".json")
}

// pathPart makes a name safe as one path element: the characters a file
// system or a shell would trip on are escaped as %XX (and "." or "" too).
func pathPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '/' || r == '\\' || r == '%' || r == ':' || r < 0x20 || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|':
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if out == "" || out == "." || out == ".." {
		return "%2E" + out
	}
	return out
}

// Dir is a directory of cassettes loaded for replay: an index of run keys to
// files, read when asked for, and a record of which were asked for.
type Dir struct {
	Root  string
	files map[string]string // run key -> path

	mu   sync.Mutex
	used map[string]bool
}

// OpenDir indexes the cassettes under root. Two files with the same run key
// are an error (the batch could replay either).
func OpenDir(root string) (*Dir, error) {
	d := &Dir{Root: root, files: map[string]string{}, used: map[string]bool{}}
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		c, err := readCassette(path)
		if err != nil {
			return err
		}
		if prev, dup := d.files[c.RunKey]; dup {
			return fmt.Errorf("%s and %s hold the same node run (run key %s); remove one", prev, path, c.RunKey)
		}
		d.files[c.RunKey] = path
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading cassettes in %s: %w", root, err)
	}
	return d, nil
}

// Len is how many cassettes the directory holds.
func (d *Dir) Len() int { return len(d.files) }

func readCassette(path string) (Cassette, error) {
	var c Cassette
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: not a cassette: %w", path, err)
	}
	if c.Version != CassetteVersion || c.RunKey == "" {
		return c, fmt.Errorf("%s: not a wtb cassette (wtb_cassette %d, run_key %q)", path, c.Version, c.RunKey)
	}
	return c, nil
}

// ErrNoCassette says the directory holds no cassette for a run key.
var ErrNoCassette = errors.New("no cassette")

// Get reads the cassette of a node run.
func (d *Dir) Get(runKey string) (Cassette, string, error) {
	path, ok := d.files[runKey]
	if !ok {
		return Cassette{}, "", ErrNoCassette
	}
	d.mu.Lock()
	d.used[runKey] = true
	d.mu.Unlock()
	c, err := readCassette(path)
	return c, path, err
}

// Nearest reads a cassette of the same node, for a replay miss to compare
// against (the first by path; nothing when the directory has none).
func (d *Dir) Nearest(node string) (Cassette, string, bool) {
	var paths []string
	for _, p := range d.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if c, err := readCassette(p); err == nil && c.Node == node {
			return c, p, true
		}
	}
	return Cassette{}, "", false
}

// Unused lists the cassettes no node run asked for, sorted.
func (d *Dir) Unused() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for key, p := range d.files {
		if !d.used[key] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
