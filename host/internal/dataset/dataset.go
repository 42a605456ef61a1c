// Package dataset says which data and which code a batch ran: a content hash
// of its cases (from a cases file or inline blocks, as the batch resolved
// them) and, when the bench file is in a git repository, the commit, the
// branch and whether the work tree had uncommitted changes. Two batches with
// the same cases hash ran the same cases; compare and the CI summary say so
// when they did not.
package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/wtbench/wtb/host/internal/spec"
)

// HashPrefix starts every cases hash: the algorithm, so a later one can be
// told apart.
const HashPrefix = "sha256:"

// CaseDigest identifies a case's content: its input and expected values as
// canonical JSON (keys sorted, numbers as written), so two cases have the
// same digest exactly when compare would pair their executions. The id is
// not part of it: the digests are kept by id.
func CaseDigest(c spec.Case) string {
	h := sha256.New()
	h.Write(canonical(c.Input))
	h.Write([]byte{0})
	h.Write(canonical(c.Expected))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Digests maps each case id to its digest.
func Digests(cases []spec.Case) map[string]string {
	out := make(map[string]string, len(cases))
	for _, c := range cases {
		out[c.ID] = CaseDigest(c)
	}
	return out
}

// Hash is the cases hash of a dataset given its case digests: the order of
// the cases does not matter, their ids and contents do.
func Hash(digests map[string]string) string {
	ids := make([]string, 0, len(digests))
	for id := range digests {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%d:%s\x00%s\n", len(id), id, digests[id])
	}
	return HashPrefix + hex.EncodeToString(h.Sum(nil))
}

// HashOf is the cases hash of cases.
func HashOf(cases []spec.Case) string { return Hash(Digests(cases)) }

// Short is a cases hash as people read it: the algorithm and 12 hex digits
// ("sha256:3f2a…" → "3f2a9c01b7de"); "" stays "".
func Short(hash string) string {
	h := hash
	if len(h) > len(HashPrefix) && h[:len(HashPrefix)] == HashPrefix {
		h = h[len(HashPrefix):]
	}
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// canonical is a JSON value re-encoded with sorted keys and its numbers as
// written (empty and null are the same: no value).
func canonical(raw json.RawMessage) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if len(bytes.TrimSpace(raw)) == 0 || dec.Decode(&v) != nil {
		return []byte("null")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return out
}
