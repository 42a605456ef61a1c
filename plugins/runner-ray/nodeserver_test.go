package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wtbench/wtb/plugins/internal/plugintest"
	"github.com/wtbench/wtb/sdk"
)

// nodeServer is `wtb-runner-ray node-server` started as a Ray actor starts
// it — the plugin's own binary, one JSON line per call on stdin and one per
// reply on stdout — with no Ray in between.
type nodeServer struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	replies chan reply
	stderr  *syncBuffer
	exited  chan error
}

func startNodeServer(t *testing.T) *nodeServer {
	t.Helper()
	bin := plugintest.Build(t, "wtb-runner-ray", "./plugins/runner-ray")
	s := &nodeServer{t: t, cmd: exec.Command(bin, "node-server", "--worker-id", "test-actor"),
		replies: make(chan reply, 16), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	s.cmd.Stderr = s.stderr
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<30)
		for sc.Scan() {
			var r reply
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("a reply that is not JSON: %v: %q", err, sc.Text())
				continue
			}
			s.replies <- r
		}
		close(s.replies)
		s.exited <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = s.in.Close()
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	})
	return s
}

// syncBuffer is the server's stderr, read by the test while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (s *nodeServer) send(c call) {
	s.t.Helper()
	line, err := json.Marshal(c)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.in.Write(append(line, '\n')); err != nil {
		s.t.Fatalf("writing a call: %v", err)
	}
}

func (s *nodeServer) reply(within time.Duration) reply {
	s.t.Helper()
	select {
	case r, ok := <-s.replies:
		if !ok {
			s.t.Fatalf("the node server closed its output; stderr:\n%s", s.stderr)
		}
		return r
	case <-time.After(within):
		s.t.Fatalf("no reply within %s", within)
	}
	return reply{}
}

func segment(id string, nodes ...sdk.Node) *sdk.ExecuteRequest {
	return &sdk.ExecuteRequest{ExecutionID: id, ExecutionKey: "c1/0/" + id, Attempt: 1, BatchID: "nodeserver-test",
		Combination: "default", Case: sdk.Case{ID: "c1", Input: []byte(`{"q":"hello"}`)}, Nodes: nodes,
		StartState: []byte(`{"q":"hello"}`)}
}

// events are a reply's events replayed into an sdk.Events, as the plugin
// replays them to the host.
type events struct{ got []string }

func (e *events) NodeStarted(node, worker string) { e.got = append(e.got, "start:"+node+"@"+worker) }
func (e *events) NodeFinished(r sdk.NodeResult) {
	e.got = append(e.got, "finish:"+r.Node+":"+string(r.Output))
}
func (e *events) NodeFailed(f sdk.NodeFailure) { e.got = append(e.got, "fail:"+f.Node) }
func (e *events) Log(node string, _ sdk.LogStream, line string) {
	e.got = append(e.got, "log:"+node+":"+line)
}

// A segment runs with the SDK's executor and comes back as one reply: its
// events in order (stderr lines included) and its outcome; a cancel call
// stops a running segment at once; the end of the input ends the server.
func TestNodeServerRunsAndCancelsSegments(t *testing.T) {
	s := startNodeServer(t)
	s.send(call{ID: "slow", Request: segment("slow", sdk.Node{Name: "wait", Kind: "command",
		Command: []string{"sleep", "60"}, Timeout: 2 * time.Minute})})
	s.send(call{ID: "quick", Request: segment("quick",
		sdk.Node{Name: "first", Kind: "merge", Params: []byte(`{"a":"1"}`)},
		sdk.Node{Name: "second", Kind: "command", Timeout: time.Minute,
			Command: []string{"sh", "-c", `cat >/dev/null; echo thinking >&2; echo '{"b": 2}'`}})})

	r := s.reply(30 * time.Second)
	if r.ID != "quick" {
		t.Fatalf("the first reply is %q's; the quick segment should not wait for the slow one", r.ID)
	}
	if r.Outcome.Status != sdk.StatusSucceeded {
		t.Fatalf("quick segment: %v %s", r.Outcome.Status, r.Outcome.Error)
	}
	var ev events
	r.replay(&ev)
	want := `start:first@test-actor finish:first:{"a":"1"} start:second@test-actor log:second:thinking finish:second:{"b":2}`
	if got := strings.Join(ev.got, " "); got != want {
		t.Errorf("events:\n got  %s\n want %s", got, want)
	}
	var state map[string]any
	if err := json.Unmarshal(r.Outcome.FinalState, &state); err != nil || state["q"] != "hello" || state["a"] != "1" || state["b"] != float64(2) {
		t.Errorf("final state %s (%v): want the start state with a and b merged in", r.Outcome.FinalState, err)
	}

	start := time.Now()
	s.send(call{ID: "slow", Cancel: true})
	r = s.reply(10 * time.Second)
	if r.ID != "slow" || r.Outcome.Status != sdk.StatusCancelled {
		t.Errorf("after a cancel call: reply %q with %v (%s), want slow cancelled", r.ID, r.Outcome.Status, r.Outcome.Error)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancelling took %s", took)
	}
	s.send(call{ID: "unknown", Cancel: true}) // nothing to cancel: ignored

	if err := s.in.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("the node server exited with %v at the end of its input; stderr:\n%s", err, s.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node server did not exit at the end of its input")
	}
}

// A line that is not a call ends the server with status 2 and says why: the
// plugin and the server are the same binary, so it can only be a bug.
func TestNodeServerRefusesALineThatIsNotACall(t *testing.T) {
	s := startNodeServer(t)
	if _, err := io.WriteString(s.in, "not json\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("exit: %v, want status 2", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node server went on after a line that is not a call")
	}
	if !strings.Contains(s.stderr.String(), "a call that is not JSON") {
		t.Errorf("stderr does not say why: %q", s.stderr)
	}
}
