package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wtbench/wtb/host/internal/spec"
)

// natsSink publishes each event as a structured CloudEvent on a subject.
// The client's own reconnect buffer is off: while the server is away a
// publish fails at once and the events wait in the bridge's bounded buffer,
// to be sent again after the reconnect.
type natsSink struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	subject   string
	jetstream bool
}

// errNotConnected: the client is reconnecting; the events wait.
var errNotConnected = errors.New("not connected to the NATS server (reconnecting)")

func newNATS(b spec.Bridge, log hclog.Logger) (*natsSink, error) {
	nc, err := nats.Connect(b.Endpoint(), nats.Name("wtb event bridge"),
		nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(-1), nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from the NATS server; reconnecting", "url", b.URL, "error", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("reconnected to the NATS server", "url", b.URL) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("NATS", "error", err) }))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", b.URL, err)
	}
	s := &natsSink{nc: nc, subject: b.Subject, jetstream: b.JetStream}
	if b.JetStream {
		if s.js, err = jetstream.New(nc); err != nil {
			nc.Close()
			return nil, fmt.Errorf("JetStream on %s: %w", b.URL, err)
		}
	}
	return s, nil
}

func (s *natsSink) batch() int { return 256 }

func (s *natsSink) msg(it *item) *nats.Msg {
	m := nats.NewMsg(s.subject)
	m.Header.Set("Content-Type", ContentType)
	// A JetStream stream drops a message whose id it has seen (within its
	// duplicate window): an event sent again is stored once.
	m.Header.Set(jetstream.MsgIDHeader, it.id)
	m.Data = it.body
	return m
}

// send publishes the items, then waits for the server to have them: a
// flush (core NATS: the server has read them) or each acknowledgement
// (JetStream: the stream has stored them).
func (s *natsSink) send(ctx context.Context, items []*item) (int, error) {
	if !s.nc.IsConnected() {
		return 0, errNotConnected
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.jetstream {
		for i, it := range items {
			if _, err := s.js.PublishMsg(ctx, s.msg(it)); err != nil {
				if errors.Is(err, nats.ErrMaxPayload) {
					return i, permanent{err}
				}
				if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
					err = fmt.Errorf("no JetStream stream takes subject %s (create one, or set jetstream = false): %w", s.subject, err)
				}
				return i, err
			}
		}
		return len(items), nil
	}
	for _, it := range items {
		if err := s.nc.PublishMsg(s.msg(it)); err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				return 0, permanent{err}
			}
			return 0, err
		}
	}
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return 0, err
	}
	return len(items), nil
}

func (s *natsSink) close() { s.nc.Close() }
