package pluginhost_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wtbench/wtb/host/internal/pluginhost"
	"github.com/wtbench/wtb/host/internal/testbin"
	"github.com/wtbench/wtb/sdk"
	"github.com/wtbench/wtb/sdk/executor"
)

// The plugin-boundary benchmarks run a trivial one-node execution (the
// built-in "merge" node, no process) three ways:
//
//	InProcess      the SDK executor called directly: the baseline
//	Plugin/serial  through wtb-runner-pool, one execution at a time (latency)
//	Plugin/64      through wtb-runner-pool with 64 executions in flight (throughput)
//
// Each reports ns/op and executions/s; the Plugin ones also report their
// ratio to an in-process run measured in the same benchmark.

type nopEvents struct{}

func (nopEvents) NodeStarted(string, string)        {}
func (nopEvents) NodeFinished(sdk.NodeResult)       {}
func (nopEvents) NodeFailed(sdk.NodeFailure)        {}
func (nopEvents) Log(string, sdk.LogStream, string) {}

func trivialRequest(i int) *sdk.ExecuteRequest {
	return &sdk.ExecuteRequest{ExecutionID: fmt.Sprintf("bench-%d", i), ExecutionKey: "k", Attempt: 1,
		StartState: []byte(`{"q":"hello"}`),
		Nodes:      []sdk.Node{{Name: "m", Kind: "merge", Params: []byte(`{"answer":"42"}`)}}}
}

// inProcessNsPerOp measures the in-process baseline for n executions.
func inProcessNsPerOp(n int) float64 {
	ex := executor.New(executor.Options{WorkerID: "bench"})
	req := trivialRequest(0)
	start := time.Now()
	for i := 0; i < n; i++ {
		if out := ex.Execute(context.Background(), req, nopEvents{}); out.Status != sdk.StatusSucceeded {
			panic(out.Error)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func BenchmarkInProcess(b *testing.B) {
	ex := executor.New(executor.Options{WorkerID: "bench"})
	req := trivialRequest(0)
	b.ReportAllocs()
	for b.Loop() {
		if out := ex.Execute(context.Background(), req, nopEvents{}); out.Status != sdk.StatusSucceeded {
			b.Fatal(out.Error)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "execs/s")
}

func benchRunner(b *testing.B, workers int) *pluginhost.Runner {
	r, err := pluginhost.LaunchRunner(context.Background(), pluginhost.Spec{Name: "runner-pool", Path: testbin.Build(b, testbin.RunnerPool)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Configure(context.Background(), []byte(fmt.Sprintf(`{"max_workers": %d}`, workers))); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func BenchmarkPlugin(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			r := benchRunner(b, inflight)
			slots := make(chan struct{}, inflight)
			done := make(chan struct{}, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				slots <- struct{}{}
				go func() {
					if out := r.Execute(context.Background(), trivialRequest(i), nopEvents{}); out.Status != sdk.StatusSucceeded {
						panic(out.Error)
					}
					<-slots
					done <- struct{}{}
				}()
			}
			for i := 0; i < b.N; i++ {
				<-done
			}
			b.StopTimer()
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "execs/s")
			b.ReportMetric(perOp/inProcessNsPerOp(max(b.N, 10000)), "x_inprocess")
		})
	}
}
