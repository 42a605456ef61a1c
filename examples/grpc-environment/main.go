// Command grpc-environment is the reference implementation of WTB's external
// execution environment contract (proto/wtb/remote/v1): a gRPC service that
// executes workflow segments and provides per-variant environments. Point
// WTB at it with the runner-grpc and env-grpc plugins.
//
// It executes command nodes with the WTB SDK's node executor, in a working
// directory per environment under --root. A team that already runs agents in
// its own sandbox fleet implements the same few RPCs in its own language.
//
//	WTB_REMOTE_TOKEN=s3cret grpc-environment --listen 127.0.0.1:7070
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/childproc"
	"github.com/wtbench/wtb/sdk/executor"
	"github.com/wtbench/wtb/sdk/modelcallpb"
	"github.com/wtbench/wtb/sdk/tracepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7070", "address to serve on")
	tokenEnv := flag.String("token-env", "WTB_REMOTE_TOKEN", "environment variable holding the bearer token clients must send (empty: no authentication)")
	tokenFile := flag.String("token-file", "", "file holding the bearer token (instead of -token-env)")
	root := flag.String("root", "", "where environments' working directories are made (default: a temporary directory)")
	maxConcurrent := flag.Int("max-concurrent", 16, "segments executed at once")
	host, _ := os.Hostname()
	workerID := flag.String("worker-id", fmt.Sprintf("%s/grpc-environment/%d", host, os.Getpid()), "id reported with every node")
	tlsCert := flag.String("tls-cert", "", "server certificate (PEM); enables TLS")
	tlsKey := flag.String("tls-key", "", "server key (PEM)")
	tlsClientCA := flag.String("tls-client-ca", "", "CA of client certificates (PEM); enables mutual TLS")
	metricsAddr := flag.String("metrics-addr", "", "serve Prometheus metrics (nodes run, segments) at http://ADDR/metrics")
	flag.Parse()

	token := os.Getenv(*tokenEnv)
	if *tokenFile != "" {
		raw, err := os.ReadFile(*tokenFile)
		if err != nil {
			fatal("reading the token file: %v", err)
		}
		token = strings.TrimSpace(string(raw))
	}
	if *root == "" {
		dir, err := os.MkdirTemp("", "wtb-grpc-environment-")
		if err != nil {
			fatal("%v", err)
		}
		*root = dir
		defer os.RemoveAll(dir)
	}
	srv := newServer(*root, *workerID, *maxConcurrent)
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(sdk.MaxMessageBytes), grpc.MaxSendMsgSize(sdk.MaxMessageBytes),
		grpc.ChainUnaryInterceptor(authUnary(token)), grpc.ChainStreamInterceptor(authStream(token)),
	}
	if *tlsCert != "" {
		cfg, err := serverTLS(*tlsCert, *tlsKey, *tlsClientCA)
		if err != nil {
			fatal("%v", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	gs := grpc.NewServer(opts...)
	remotev1.RegisterExecutionServiceServer(gs, srv)
	remotev1.RegisterEnvironmentServiceServer(gs, srv)
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal("%v", err)
	}
	go srv.collect()
	if *metricsAddr != "" {
		bound, stop, err := sdk.ListenMetrics(*metricsAddr, srv.exec.Metrics)
		if err != nil {
			fatal("%v", err)
		}
		defer stop()
		fmt.Fprintf(os.Stderr, "grpc-environment: metrics on http://%s/metrics\n", bound)
	}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		<-ch
		// Clients see UNAVAILABLE and retry against the next instance.
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			gs.Stop()
		}
	}()
	auth := "no authentication"
	if token != "" {
		auth = "bearer token required"
	}
	fmt.Fprintf(os.Stderr, "grpc-environment: serving wtb.remote.v1 on %s (%s), environments under %s\n", lis.Addr(), auth, *root)
	err = gs.Serve(lis)
	childproc.KillAll() // no node outlives the server
	if err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "grpc-environment: "+format+"\n", args...)
	os.Exit(1)
}

func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("loading the client CA %s: %v", clientCA, err)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func checkToken(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if v == "Bearer "+token {
			return nil
		}
	}
	return status.Error(codes.PermissionDenied, "invalid or missing bearer token")
}

func authUnary(token string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := checkToken(ctx, token); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func authStream(token string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := checkToken(ss.Context(), token); err != nil {
			return err
		}
		return h(srv, ss)
	}
}

// segment is one execution, kept so a client that reconnects with the same
// idempotency key attaches to it (or gets its events replayed) instead of
// starting it again.
type segment struct {
	mu          sync.Mutex
	events      []*remotev1.ExecuteSegmentResponse
	done        bool
	changed     chan struct{}
	cancel      context.CancelFunc
	subscribers int
	finishedAt  time.Time
	orphanTimer *time.Timer
}

func (s *segment) add(r *remotev1.ExecuteSegmentResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	r.Seq = uint64(len(s.events) + 1)
	s.events = append(s.events, r)
	if _, last := r.GetEvent().(*remotev1.ExecuteSegmentResponse_SegmentFinished); last {
		s.done, s.finishedAt = true, time.Now()
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

type server struct {
	remotev1.UnimplementedExecutionServiceServer
	remotev1.UnimplementedEnvironmentServiceServer
	exec     *executor.Executor
	root     string
	workerID string
	slots    chan struct{}

	mu   sync.Mutex
	segs map[string]*segment
	envs map[string]*remotev1.Environment
}

func newServer(root, workerID string, maxConcurrent int) *server {
	return &server{exec: executor.New(executor.Options{WorkerID: workerID, Workers: maxConcurrent}), root: root, workerID: workerID,
		slots: make(chan struct{}, maxConcurrent), segs: map[string]*segment{}, envs: map[string]*remotev1.Environment{}}
}

func (s *server) GetInfo(context.Context, *remotev1.GetInfoRequest) (*remotev1.GetInfoResponse, error) {
	return &remotev1.GetInfoResponse{Name: "grpc-environment", Version: "0.1.0",
		NodeKinds: []string{"command", "merge"}, MaxConcurrency: int32(cap(s.slots))}, nil
}

// orphanGrace is how long a segment nobody listens to keeps running, waiting
// for its client to reconnect.
const orphanGrace = 5 * time.Second

func (s *server) ExecuteSegment(req *remotev1.ExecuteSegmentRequest, stream remotev1.ExecutionService_ExecuteSegmentServer) error {
	key := req.GetIdempotencyKey()
	if key == "" {
		return status.Error(codes.InvalidArgument, "idempotency_key is required")
	}
	s.mu.Lock()
	seg, ok := s.segs[key]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		seg = &segment{changed: make(chan struct{}), cancel: cancel}
		s.segs[key] = seg
		go s.run(ctx, seg, req)
	}
	s.mu.Unlock()

	seg.mu.Lock()
	seg.subscribers++
	if seg.orphanTimer != nil {
		seg.orphanTimer.Stop()
		seg.orphanTimer = nil
	}
	seg.mu.Unlock()
	defer func() {
		seg.mu.Lock()
		defer seg.mu.Unlock()
		seg.subscribers--
		if seg.subscribers == 0 && !seg.done {
			// The client cancelled or its connection broke: cancel the
			// segment unless it comes back soon with the same key.
			seg.orphanTimer = time.AfterFunc(orphanGrace, seg.cancel)
		}
	}()
	for sent := 0; ; {
		seg.mu.Lock()
		pending, done, changed := seg.events[sent:], seg.done, seg.changed
		seg.mu.Unlock()
		for _, ev := range pending {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		sent += len(pending)
		if done { // everything up to and including SegmentFinished is sent
			return nil
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// sink turns executor events into remote events.
type sink struct{ seg *segment }

func (k sink) NodeStarted(node, worker string) {
	k.seg.add(&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeStarted{NodeStarted: &remotev1.NodeStarted{Node: node, WorkerId: worker}}})
}

func (k sink) NodeFinished(r sdk.NodeResult) {
	k.seg.add(&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeFinished{NodeFinished: &remotev1.NodeFinished{
		Node: r.Node, StateJson: r.State, OutputJson: r.Output, Duration: durationpb.New(r.Duration), Metrics: r.Metrics, WorkerId: r.WorkerID,
		Interactions: modelcallpb.InteractionsToProto(r.Interactions), Spans: tracepb.ToProto(r.Spans)}}})
}

func (k sink) NodeFailed(f sdk.NodeFailure) {
	k.seg.add(&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_NodeFailed{NodeFailed: &remotev1.NodeFailed{
		Node: f.Node, Error: f.Error, Kind: f.Kind.String(), Retryable: f.Retryable, ExitCode: int32(f.ExitCode),
		Interactions: modelcallpb.InteractionsToProto(f.Interactions), Spans: tracepb.ToProto(f.Spans)}}})
}

func (k sink) Log(node string, _ sdk.LogStream, line string) {
	k.seg.add(&remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_Log{Log: &remotev1.LogLine{Node: node, Line: line}}})
}

func (s *server) run(ctx context.Context, seg *segment, req *remotev1.ExecuteSegmentRequest) {
	defer seg.cancel()
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		seg.add(finished(sdk.Outcome{Status: sdk.StatusCancelled, Error: "cancelled while queued", FailureKind: sdk.FailureCancelled}))
		return
	}
	seg.add(finished(s.exec.Execute(ctx, executeRequest(req), sink{seg})))
}

// executeRequest is the segment a request asks for, in the SDK's types.
func executeRequest(req *remotev1.ExecuteSegmentRequest) *sdk.ExecuteRequest {
	env := req.GetEnvironment()
	er := &sdk.ExecuteRequest{ExecutionKey: req.GetExecutionKey(), Attempt: int(req.GetAttempt()), BatchID: req.GetBatchId(),
		Combination: req.GetCombination(), Variants: req.GetVariants(), RepeatIndex: int(req.GetRepeatIndex()),
		Case:       sdk.Case{ID: req.GetCaseId(), Input: req.GetCaseInputJson(), Expected: req.GetCaseExpectedJson()},
		StartState: req.GetStartStateJson(),
		Env:        sdk.RuntimeEnv{ID: env.GetId(), Env: env.GetEnv(), WorkingDir: env.GetWorkingDir()},
		ModelCalls: modelcallpb.ConfigFromProto(req.GetModelCalls()),
		Recordings: modelcallpb.RecordingsFromProto(req.GetRecordings())}
	for _, n := range req.GetNodes() {
		node := sdk.Node{Name: n.GetName(), Kind: n.GetKind(), Command: n.GetCommand(), Params: n.GetParamsJson(),
			Env: n.GetEnv(), Timeout: n.GetTimeout().AsDuration(), Variant: n.GetVariant(), MaxOutputBytes: n.GetMaxOutputBytes(),
			ConfigHash: n.GetConfigHash(), RunKey: n.GetRunKey()}
		if w := n.GetWorker(); w != nil {
			node.Worker = &sdk.WorkerSpec{Max: int(w.GetMax()), MaxRequests: int(w.GetMaxRequests()), IdleTimeout: w.GetIdleTimeout().AsDuration()}
		}
		er.Nodes = append(er.Nodes, node)
	}
	return er
}

func finished(o sdk.Outcome) *remotev1.ExecuteSegmentResponse {
	f := &remotev1.SegmentFinished{Succeeded: o.Status == sdk.StatusSucceeded, FinalStateJson: o.FinalState, Error: o.Error,
		FailedNode: o.FailedNode, Retryable: o.Retryable, WorkerId: o.WorkerID}
	if o.Status != sdk.StatusSucceeded {
		f.FailureKind = o.FailureKind.String()
	}
	return &remotev1.ExecuteSegmentResponse{Event: &remotev1.ExecuteSegmentResponse_SegmentFinished{SegmentFinished: f}}
}

// collect forgets finished segments after ten minutes.
func (s *server) collect() {
	for range time.Tick(time.Minute) {
		s.mu.Lock()
		for k, seg := range s.segs {
			seg.mu.Lock()
			old := seg.done && time.Since(seg.finishedAt) > 10*time.Minute
			seg.mu.Unlock()
			if old {
				delete(s.segs, k)
			}
		}
		s.mu.Unlock()
	}
}

func (s *server) CreateEnvironment(_ context.Context, req *remotev1.CreateEnvironmentRequest) (*remotev1.CreateEnvironmentResponse, error) {
	sum := sha256.Sum256([]byte(req.GetBatchId() + "\x00" + req.GetVariantId()))
	id := "env-" + hex.EncodeToString(sum[:8])
	var cfg struct {
		Env map[string]string `json:"env"`
	}
	if len(req.GetConfigJson()) > 0 {
		if err := json.Unmarshal(req.GetConfigJson(), &cfg); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "config_json: %v", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.envs[id]; ok {
		return &remotev1.CreateEnvironmentResponse{Environment: e}, nil
	}
	dir := filepath.Join(s.root, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, status.Errorf(codes.Internal, "creating %s: %v", dir, err)
	}
	env := map[string]string{"WTB_ENV_DIR": dir, "WTB_VARIANT": req.GetVariantId()}
	for k, v := range cfg.Env {
		env[k] = v
	}
	e := &remotev1.Environment{Id: id, Env: env, WorkingDir: dir}
	s.envs[id] = e
	return &remotev1.CreateEnvironmentResponse{Environment: e}, nil
}

func (s *server) GetEnvironment(_ context.Context, req *remotev1.GetEnvironmentRequest) (*remotev1.GetEnvironmentResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.envs[req.GetEnvironmentId()]
	return &remotev1.GetEnvironmentResponse{Environment: e, Found: ok}, nil
}

func (s *server) CleanupEnvironment(_ context.Context, req *remotev1.CleanupEnvironmentRequest) (*remotev1.CleanupEnvironmentResponse, error) {
	id := req.GetEnvironmentId()
	if !validEnvID(id) {
		return &remotev1.CleanupEnvironmentResponse{}, nil // not one of ours
	}
	s.mu.Lock()
	delete(s.envs, id)
	s.mu.Unlock()
	// The directory is derived from the id, so an environment made before a
	// restart of this server is removed too.
	if err := os.RemoveAll(filepath.Join(s.root, id)); err != nil {
		return nil, status.Errorf(codes.Internal, "removing environment %s: %v", id, err)
	}
	return &remotev1.CleanupEnvironmentResponse{}, nil
}

func validEnvID(id string) bool {
	if len(id) != len("env-")+16 || !strings.HasPrefix(id, "env-") {
		return false
	}
	_, err := hex.DecodeString(id[4:])
	return err == nil
}
