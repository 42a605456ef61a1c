package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/testbin"
	remotev1 "github.com/wtbench/wtb/proto/wtb/remote/v1"
	"github.com/wtbench/wtb/sdk/conformance"
	"google.golang.org/grpc"
)

const remoteToken = "test-token-5f3a"

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// remoteServer runs the reference grpc-environment server.
type remoteServer struct {
	t    *testing.T
	addr string
	root string
	args []string
	cmd  *osexec.Cmd
	done chan struct{}
}

func startRemote(t *testing.T, extra ...string) *remoteServer {
	t.Helper()
	r := &remoteServer{t: t, addr: freeAddr(t), root: t.TempDir(), args: extra}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *remoteServer) start() {
	r.t.Helper()
	args := append([]string{"--listen", r.addr, "--root", r.root}, r.args...)
	r.cmd = osexec.Command(testbin.Build(r.t, testbin.RemoteServer), args...)
	r.cmd.Env = append(os.Environ(), "WTB_REMOTE_TOKEN="+remoteToken)
	stderr, _ := r.cmd.StderrPipe()
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving wtb.remote.v1") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		r.t.Fatal("the reference server did not start")
	}
	r.done = make(chan struct{})
	go func(cmd *osexec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
}

func (r *remoteServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

func (r *remoteServer) envDirs() []string {
	entries, _ := os.ReadDir(r.root)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "env-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func grpcEnv(t *testing.T) *env {
	e := newEnv(t)
	testbin.Build(t, testbin.RunnerGRPC)
	testbin.Build(t, testbin.EnvGRPC)
	t.Setenv("WTB_TEST_REMOTE_TOKEN", remoteToken) // inherited by wtb and its plugins
	return e
}

func remoteBlocks(addr, extra string) string {
	return fmt.Sprintf(`
runner "remote" {
  plugin       = "grpc"
  address      = %q
  token_env    = "WTB_TEST_REMOTE_TOKEN"
  retry_backoff = "200ms"
  %s
}
environment "remote" {
  plugin    = "grpc"
  address   = %q
  token_env = "WTB_TEST_REMOTE_TOKEN"
  %s
}
runner "local" {
  plugin = "pool"
}
`, addr, extra, addr, extra)
}

func TestRemoteServiceConformance(t *testing.T) {
	srv := startRemote(t)
	conformance.RunRemote(t, conformance.Remote{Address: srv.addr, Token: remoteToken, Environments: true})
}

func TestGRPCParityWithThePoolAndCleanup(t *testing.T) {
	hashnode := testbin.Build(t, "hashnode", "./host/internal/testplugins/hashnode")
	e := grpcEnv(t)
	srv := startRemote(t)
	bench := workflowCase{"three", []wfNode{{"a", nil, 2}, {"b", []string{"a"}, 0}, {"c", []string{"b"}, 3}}}.hcl(hashnode, 3, 2)
	bench = strings.Replace(bench, `runner "pool" {`, remoteBlocks(srv.addr, "")+"\nrunner \"pool\" {", 1)
	bench = strings.Replace(bench, "share_prefixes = var.share", "share_prefixes = var.share\n  environment = environment.remote", 1)
	e.write("bench.hcl", bench)
	r := e.run("parity", "bench.hcl", "--runners", "pool,remote", "--no-progress")
	if r.code != 0 || !strings.Contains(r.stdout, "no differences") {
		t.Errorf("parity pool vs remote: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if dirs := srv.envDirs(); len(dirs) != 0 {
		t.Errorf("environments left on the server after the batches: %v", dirs)
	}
}

func TestGRPCServerRestartMidBatch(t *testing.T) {
	e := grpcEnv(t)
	srv := startRemote(t)
	e.write("bench.hcl", sleepBench(remoteBlocks(srv.addr, ""), "remote", "0.2", 20))
	_, id, wait := startBatch(t, e, "bench.hcl", 6)
	srv.stop()
	time.Sleep(time.Second)
	srv.start()
	stderr := wait()
	rs := e.results(e.store(), id)
	assertExactlyOnce(t, rs, 40)
	for _, res := range rs {
		if !res.Success {
			t.Errorf("%s: %s\n%s", res.ExecutionKey, res.Error, stderr)
		}
	}
}

func TestGRPCWrongToken(t *testing.T) {
	e := grpcEnv(t)
	srv := startRemote(t)
	t.Setenv("WTB_TEST_REMOTE_TOKEN", "not-the-token")
	e.write("bench.hcl", sleepBench(remoteBlocks(srv.addr, ""), "remote", "0", 1))
	r := e.run("run", "bench.hcl", "--no-progress")
	if r.code != 3 || !strings.Contains(r.stderr, "PermissionDenied") || !strings.Contains(r.stderr, "rejected the credentials") {
		t.Errorf("wrong token: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "not-the-token") {
		t.Errorf("the token is printed:\n%s", r.stderr)
	}
}

func TestGRPCTLS(t *testing.T) {
	e := grpcEnv(t)
	dir := t.TempDir()
	ca, caKey := writeCA(t, dir, "ca")
	writeCert(t, dir, "server", ca, caKey, true)
	writeCert(t, dir, "client", ca, caKey, false)
	writeCA(t, dir, "other-ca")
	srv := startRemote(t, "--tls-cert", dir+"/server.pem", "--tls-key", dir+"/server-key.pem", "--tls-client-ca", dir+"/ca.pem")
	tlsBlock := func(caFile string) string {
		return fmt.Sprintf(`tls_ca_file = %q
  tls_cert_file = %q
  tls_key_file = %q
  retries = 0`, caFile, dir+"/client.pem", dir+"/client-key.pem")
	}
	e.write("good.hcl", sleepBench(remoteBlocks(srv.addr, tlsBlock(dir+"/ca.pem")), "remote", "0", 2))
	r := e.run("run", "good.hcl", "--no-progress")
	if r.code != 0 {
		t.Errorf("mutual TLS with the right CA: exit %d\n%s", r.code, r.stderr)
	}
	e.write("bad.hcl", sleepBench(remoteBlocks(srv.addr, tlsBlock(dir+"/other-ca.pem")), "remote", "0", 1))
	r = e.run("run", "bad.hcl", "--no-progress")
	if r.code != 3 || !strings.Contains(r.stderr, "TLS handshake failed") || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("TLS with the wrong CA: exit %d\n%s", r.code, r.stderr)
	}
}

// stallingServer answers GetInfo but never answers ExecuteSegment.
type stallingServer struct {
	remotev1.UnimplementedExecutionServiceServer
	remotev1.UnimplementedEnvironmentServiceServer
}

func (stallingServer) GetInfo(context.Context, *remotev1.GetInfoRequest) (*remotev1.GetInfoResponse, error) {
	return &remotev1.GetInfoResponse{Name: "stalling", NodeKinds: []string{"command"}}, nil
}

func (stallingServer) ExecuteSegment(_ *remotev1.ExecuteSegmentRequest, st remotev1.ExecutionService_ExecuteSegmentServer) error {
	<-st.Context().Done()
	return st.Context().Err()
}

func TestGRPCServerThatNeverAnswers(t *testing.T) {
	e := grpcEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	remotev1.RegisterExecutionServiceServer(gs, stallingServer{})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	bench := sleepBench(fmt.Sprintf(`
runner "remote" {
  plugin        = "grpc"
  address       = %q
  call_timeout  = "500ms"
  retries       = 2
  retry_backoff = "100ms"
}
`, lis.Addr()), "remote", "0", 1)
	bench = strings.Replace(bench, "max_retries = 2", "max_retries = 0", 1)
	e.write("bench.hcl", bench)
	r := e.mustRun("run", "bench.hcl", "--no-progress")
	for _, res := range e.results(e.store(), batchID(t, r.stderr)) {
		if res.Success || !strings.Contains(res.Error, "did not answer in time") || !strings.Contains(res.Error, "after 3 attempts") {
			t.Errorf("%s: success=%v error=%q", res.ExecutionKey, res.Success, res.Error)
		}
	}
}

func TestGRPCCancelCleansUpEnvironments(t *testing.T) {
	e := grpcEnv(t)
	srv := startRemote(t)
	bench := sleepBench(remoteBlocks(srv.addr, ""), "remote", "30", 4)
	bench = strings.Replace(bench, "runner      = runner.remote", "runner      = runner.remote\n  environment = environment.remote", 1)
	e.write("bench.hcl", bench)
	cmd := e.cmd("run", "bench.hcl", "--no-progress")
	out := &syncBuffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() string { return "environments on the server: " + out.String() }, func() bool { return len(srv.envDirs()) > 0 })
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after SIGINT:\n%s", code, out.String())
	}
	if dirs := srv.envDirs(); len(dirs) != 0 {
		t.Errorf("environments left after a cancelled batch: %v", dirs)
	}
}

// Test certificates.

func writeCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func writeCert(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	kd, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kd)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
