package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// upstream is a real HTTPS server standing in for a model API: it echoes the
// request's last message and counts calls. Streamed requests get SSE events.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls int
	auth  []string
	fail  int // answer this many calls with 500 first
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.calls++
		n := u.calls // every answer is numbered: a replay in the wrong order shows
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		fail := u.fail > 0
		if fail {
			u.fail--
		}
		u.mu.Unlock()
		if fail {
			http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		last := ""
		if n := len(req.Messages); n > 0 {
			last = req.Messages[n-1].Content
		}
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, piece := range strings.Fields(last) {
				fmt.Fprintf(w, "data: {\"model\":%q,\"delta\":%q}\n\n", req.Model, piece)
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
			fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"model":%q,"answer":%q,"n":%d,"path":%q,"usage":{"prompt_tokens":%d,"completion_tokens":3}}`,
			req.Model+"-2026", "echo: "+last, n, r.URL.Path, 10+len(last))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw})
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func config(mode string, ups ...sdk.Upstream) *sdk.ModelCalls {
	return &sdk.ModelCalls{Mode: mode, Upstreams: ups, IgnoreJSONPaths: []string{"$.metadata.request_id"}}
}

func (u *upstream) as(name string) sdk.Upstream {
	return sdk.Upstream{Name: name, URL: u.srv.URL + "/v1", BaseURLEnv: "OPENAI_BASE_URL", APIKeyEnv: "OPENAI_API_KEY", CAPEM: u.caPEM()}
}

func newGateway(t *testing.T) *Gateway {
	g, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// call posts a chat request the way an SDK would, to the base URL the
// channel hands out.
func call(t *testing.T, env map[string]string, content string, stream bool) (int, string, http.Header) {
	t.Helper()
	body := fmt.Sprintf(`{"model":"gpt-test","stream":%v,"metadata":{"request_id":%q},"messages":[{"role":"user","content":%q}]}`,
		stream, time.Now().String(), content)
	req, _ := http.NewRequest("POST", env["OPENAI_BASE_URL"]+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-secret-key-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func openRun(t *testing.T, g *Gateway, cfg *sdk.ModelCalls, rec *sdk.Recordings) (*Run, map[string]string, func()) {
	t.Helper()
	run := NewRun(cfg, "answer", rec, map[string]string{"OPENAI_API_KEY": "sk-secret-key-0123456789"})
	ch, err := g.NewChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch.Bind(run)
	return run, ch.Env(nil, nil), ch.Close
}

func proxyClient(t *testing.T, env map[string]string) *http.Client {
	t.Helper()
	proxy, err := url.Parse(env["HTTPS_PROXY"])
	if err != nil || proxy.User == nil {
		t.Fatalf("HTTPS_PROXY %q", env["HTTPS_PROXY"])
	}
	bundle, err := os.ReadFile(env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatal("no certificate in the bundle")
	}
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: roots}}}
}
