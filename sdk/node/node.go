// Package node helps write a command node in Go: Serve reads the node's input,
// calls your function and writes its output, once per process (a one-shot
// node) or once per line for as long as the process lives (a persistent
// worker, worker = true in the bench file). The same program works both ways.
//
//	func main() {
//		node.Serve(func(ctx context.Context, in *executor.NodeInput) (map[string]any, error) {
//			return map[string]any{"answer": "Paris"}, nil
//		})
//	}
//
// In a worker, package-level state lives across requests: load a model once,
// but do not let one request's data leak into the next. Anything the function
// prints to stdout goes to stderr instead (stdout carries the answers).
package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wtbench/wtb/sdk/executor"
)

// Func computes a node's output (merged into the state) from its input.
type Func func(ctx context.Context, in *executor.NodeInput) (map[string]any, error)

// Retryable marks an error worth retrying (a rate limit, a flaky service): a
// one-shot node exits with executor.RetryableExitCode, a worker answers
// "$retryable": true.
func Retryable(err error) error { return retryable{err} }

type retryable struct{ error }

func (r retryable) Unwrap() error { return r.error }

// IsWorker reports whether the process was started as a persistent worker.
func IsWorker() bool { return os.Getenv("WTB_WORKER") == "1" }

// Serve runs fn as the node's program and exits.
func Serve(fn Func) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if IsWorker() {
		out := os.Stdout
		os.Stdout = os.Stderr // stray prints must not corrupt the answers
		if err := serveWorker(ctx, os.Stdin, out, fn); err != nil {
			fmt.Fprintln(os.Stderr, "node worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(serveOnce(ctx, os.Stdin, os.Stdout, os.Stderr, fn))
}

// serveOnce handles a one-shot run: the whole of stdin is the input.
func serveOnce(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, fn Func) int {
	var in executor.NodeInput
	if err := json.NewDecoder(stdin).Decode(&in); err != nil {
		fmt.Fprintln(stderr, "reading the node's input:", err)
		return 1
	}
	out, err := fn(ctx, &in)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.As(err, new(retryable)) {
			return executor.RetryableExitCode
		}
		return 1
	}
	if out == nil {
		out = map[string]any{}
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		fmt.Fprintln(stderr, "writing the node's output:", err)
		return 1
	}
	return 0
}

// serveWorker answers one request per line until stdin closes.
func serveWorker(ctx context.Context, stdin io.Reader, stdout io.Writer, fn Func) error {
	r := bufio.NewReaderSize(stdin, 1<<20)
	w := bufio.NewWriter(stdout)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the host is done with this worker
			}
			return err
		}
		answer := handle(ctx, line, fn)
		if _, err := w.Write(append(answer, '\n')); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// handle answers one request: the output, or {"$error", "$retryable"}.
func handle(ctx context.Context, line []byte, fn Func) []byte {
	var in executor.NodeInput
	out, err := map[string]any(nil), json.Unmarshal(line, &in)
	if err == nil {
		out, err = safely(ctx, &in, fn)
	}
	if err != nil {
		b, _ := json.Marshal(map[string]any{"$error": err.Error(), "$retryable": errors.As(err, new(retryable))})
		return b
	}
	if out == nil {
		out = map[string]any{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"$error": "encoding the output: " + err.Error()})
	}
	return b
}

// safely turns a panic in fn into the request's error: one bad request must
// not take the worker's other requests down with it.
func safely(ctx context.Context, in *executor.NodeInput, fn Func) (out map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, in)
}
