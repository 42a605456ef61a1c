// Package viewer is `wtb view`, a local web UI over a results database, and
// `wtb report`, the same batch view as one self-contained HTML file. Both read
// only, through the application layer, and speak the documents of package doc:
// the page's data is exactly what `--format json` prints.
package viewer

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/wtbench/wtb/host/internal/application"
	"github.com/wtbench/wtb/host/internal/jsondoc"
	"github.com/wtbench/wtb/host/internal/metrics"
	"github.com/wtbench/wtb/host/internal/store"
)

//go:embed assets
var assets embed.FS

// Server serves the viewer over a store.
type Server struct {
	Store store.Store
	Log   hclog.Logger
	// Metrics, when set, is served at /metrics with the viewer's requests
	// and the database's batches added.
	Metrics *metrics.Metrics
}

// Handler routes the pages and the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.index)
	routes := map[string]func(*http.Request) (any, error){
		"GET /api/batches":                          s.batches,
		"GET /api/batches/{id}":                     s.leaderboard,
		"GET /api/batches/{id}/executions":          s.executions,
		"GET /api/batches/{id}/executions/{key...}": s.execution,
		"GET /api/batches/{id}/cases":               s.cases,
		"GET /api/batches/{id}/audit":               s.audit,
		"GET /api/batches/{id}/spans":               s.spans,
		"GET /api/compare":                          s.compare,
	}
	for pattern, h := range routes {
		if s.Metrics == nil {
			mux.HandleFunc(pattern, s.api(h))
			continue
		}
		mux.Handle(pattern, instrumented(s.Metrics.Registerer(), strings.TrimPrefix(pattern, "GET "), s.api(h)))
	}
	if s.Metrics != nil {
		s.Metrics.Register(newStoreCollector(s.Store))
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
	return securityHeaders(mux)
}

// securityHeaders keeps the page from being framed or fed scripts from
// elsewhere: it only ever loads its own assets.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	page, err := Page(PageOptions{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

// api adapts a handler that returns a document; errors become JSON with a
// status that says whose fault they are.
func (s *Server) api(h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		start := time.Now()
		d, err := h(r.WithContext(ctx))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			status := http.StatusInternalServerError
			switch {
			case errors.Is(err, application.ErrNoBatch), errors.Is(err, application.ErrNoExecution):
				status = http.StatusNotFound
			case application.KindOf(err) == application.KindConfig, errors.Is(err, errBadRequest):
				status = http.StatusBadRequest
			}
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		if err := json.NewEncoder(w).Encode(d); err != nil && s.Log != nil {
			s.Log.Debug("writing a response", "path", r.URL.Path, "error", err)
		}
		if s.Log != nil {
			s.Log.Debug("served", "path", r.URL.String(), "took", time.Since(start))
		}
	}
}

var errBadRequest = errors.New("bad request")

// MaxListedBatches is how many batches the batches page lists.
const MaxListedBatches = 200

func (s *Server) batches(r *http.Request) (any, error) {
	recs, err := application.Batches(r.Context(), s.Store, MaxListedBatches)
	if err != nil {
		return nil, err
	}
	d := jsondoc.BatchesOf(recs)
	for i := range d.Batches {
		if d.Batches[i].Stored == nil { // still running, or stopped before its summary
			if n, err := s.Store.Results().Count(r.Context(), d.Batches[i].ID); err == nil {
				d.Batches[i].Stored = &n
			}
		}
	}
	return d, nil
}

func (s *Server) leaderboard(r *http.Request) (any, error) {
	board, err := application.Leaderboard(r.Context(), s.Store, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return jsondoc.LeaderboardOf(board), nil
}

// DefaultPage and MaxPage bound the executions one request lists.
const (
	DefaultPage = 50
	MaxPage     = 1000
)

func (s *Server) executions(r *http.Request) (any, error) {
	rec, b, err := application.Batch(r.Context(), s.Store, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	q, err := queryOf(r)
	if err != nil {
		return nil, err
	}
	rows, total, err := application.Executions(r.Context(), s.Store, rec.ID, q)
	if err != nil {
		return nil, err
	}
	return jsondoc.ExecutionsOf(rec.ID, rows, total, q.Offset, b), nil
}

// queryOf reads the executions filter of a request.
func queryOf(r *http.Request) (store.ResultQuery, error) {
	v := r.URL.Query()
	q := store.ResultQuery{Combination: v.Get("combination"), CaseID: v.Get("case"), Status: v.Get("status"), Limit: DefaultPage,
		Sort: v.Get("sort"), Desc: v.Get("desc") == "1"}
	if q.Status != "" && q.Status != store.ResultSucceeded && q.Status != store.ResultFailed {
		return q, errorf("status must be %s or %s", store.ResultSucceeded, store.ResultFailed)
	}
	if _, err := q.OrderBy(""); err != nil {
		return q, errorf("%v", err)
	}
	num := func(name string) (*float64, error) {
		s := v.Get(name)
		if s == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errorf("%s must be a number, got %q", name, s)
		}
		return &f, nil
	}
	var err error
	if q.MinScore, err = num("min"); err != nil {
		return q, err
	}
	if q.MaxScore, err = num("max"); err != nil {
		return q, err
	}
	for name, into := range map[string]*int{"offset": &q.Offset, "limit": &q.Limit} {
		if s := v.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, errorf("%s must be a whole number, got %q", name, s)
			}
			*into = n
		}
	}
	if q.Limit == 0 || q.Limit > MaxPage {
		q.Limit = MaxPage
	}
	return q, nil
}

func errorf(format string, args ...any) error {
	return &requestError{msg: strings.TrimSpace(fmt.Sprintf(format, args...))}
}

type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return errBadRequest }

// Pages of the case × combination grid: cases per page by default and at
// most, and where each cell's output is cut.
const (
	DefaultCasesPage = 25
	MaxCasesPage     = 200
	CellOutputChars  = 1000
)

// cases serves a page of the grid: ?col=COMBINATION (repeated: the columns,
// in order), output= ("", node, or a JSONPath), q=, sort= (failed, case,
// score), desc=1, score_of=COMBINATION, offset=, limit=.
func (s *Server) cases(r *http.Request) (any, error) {
	o, err := gridOptionsOf(r)
	if err != nil {
		return nil, err
	}
	g, err := application.GridOf(r.Context(), s.Store, r.PathValue("id"), o)
	if err != nil {
		return nil, err
	}
	return jsondoc.CasesOf(g, o), nil
}

func gridOptionsOf(r *http.Request) (application.GridOptions, error) {
	v := r.URL.Query()
	o := application.GridOptions{Combinations: v["col"], Output: v.Get("output"), Search: strings.TrimSpace(v.Get("q")),
		Sort: v.Get("sort"), ScoreOf: v.Get("score_of"), Limit: DefaultCasesPage, MaxOutput: CellOutputChars}
	switch v.Get("desc") {
	case "", "0", "false":
	case "1", "true":
		o.Desc = true
	default:
		return o, errorf("desc must be 1 or 0, got %q", v.Get("desc"))
	}
	for name, into := range map[string]*int{"offset": &o.Offset, "limit": &o.Limit} {
		if s := v.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return o, errorf("%s must be a whole number, got %q", name, s)
			}
			*into = n
		}
	}
	if o.Limit == 0 || o.Limit > MaxCasesPage {
		o.Limit = MaxCasesPage
	}
	return o, nil
}

// Pages of a node run's spans: the execution document holds the first
// SpansPage of each (a node run keeps up to 2,000, 1.2 MB of JSON), the
// spans endpoint the rest, at most MaxSpansPage a request.
const (
	SpansPage    = 200
	MaxSpansPage = 2000
)

func (s *Server) execution(r *http.Request) (any, error) {
	v, err := application.Execution(r.Context(), s.Store, r.PathValue("id"), r.PathValue("key"))
	if err != nil {
		return nil, err
	}
	d := jsondoc.ExecutionDetailOf(v)
	for i := range d.Nodes {
		if n := &d.Nodes[i]; len(n.Spans) > SpansPage {
			n.Spans = n.Spans[:SpansPage]
		}
	}
	return d, nil
}

// spans serves a page of a node run's spans in an execution:
// ?execution=KEY&node=NODE&offset=N&limit=M.
func (s *Server) spans(r *http.Request) (any, error) {
	q := r.URL.Query()
	key, node := q.Get("execution"), q.Get("node")
	if key == "" || node == "" {
		return nil, errorf("spans needs ?execution=KEY&node=NODE (and offset, limit)")
	}
	num := func(name string, def, lo, hi int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, errorf("%s must be a whole number from %d to %d, got %q", name, lo, hi, v)
		}
		return n, nil
	}
	offset, err := num("offset", 0, 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	limit, err := num("limit", SpansPage, 1, MaxSpansPage)
	if err != nil {
		return nil, err
	}
	v, err := application.Execution(r.Context(), s.Store, r.PathValue("id"), key)
	if err != nil {
		return nil, err
	}
	p, ok := jsondoc.SpanPageOf(jsondoc.ExecutionDetailOf(v), node, offset, limit)
	if !ok {
		return nil, errorf("execution %s has no node %q", key, node)
	}
	return p, nil
}

// MaxAuditEntries bounds the audit page.
const MaxAuditEntries = 2000

func (s *Server) audit(r *http.Request) (any, error) {
	level := r.URL.Query().Get("level")
	rec, entries, err := application.Audit(r.Context(), s.Store, r.PathValue("id"), store.AuditFilter{MinSeverity: level, Limit: MaxAuditEntries,
		ExecutionKey: r.URL.Query().Get("execution")})
	if err != nil {
		return nil, err
	}
	return jsondoc.AuditOf(rec.ID, entries), nil
}

func (s *Server) compare(r *http.Request) (any, error) {
	a, b := r.URL.Query().Get("a"), r.URL.Query().Get("b")
	if a == "" || b == "" {
		return nil, errorf("compare needs ?a=BATCH&b=BATCH")
	}
	o := application.CompareOptions{Tolerance: application.DefaultTolerance, Alpha: application.DefaultAlpha, Test: r.URL.Query().Get("test"), Cases: true}
	for name, into := range map[string]*float64{"tolerance": &o.Tolerance, "alpha": &o.Alpha} {
		if v := r.URL.Query().Get(name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, errorf("%s must be a number, got %q", name, v)
			}
			*into = f
		}
	}
	c, err := application.Compare(r.Context(), s.Store, a, b, o)
	if err != nil {
		return nil, err
	}
	return jsondoc.CompareOf(c, application.Redactor(c.A).JSON, application.Redactor(c.B).JSON), nil
}
