package bridge

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/wtbench/wtb/host/internal/store"
)

// maxLine bounds one line of an imported file (one event).
const maxLine = 16 << 20

// ReadLines reads CloudEvents in the JSON format, one a line (blank lines
// are skipped). Every bad line is reported (name:line: why), at most 10 of
// them, and then nothing is returned: an import takes a file whole or not
// at all.
func ReadLines(r io.Reader, name string) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var out []Event
	var bad []string
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var e Event
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			if len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("%s:%d: %v", name, line, err))
			} else if len(bad) == 10 {
				bad = append(bad, "…")
			}
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: a line longer than %d MiB", name, line+1, maxLine>>20)
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s is not CloudEvents JSON, one event a line; nothing was imported:\n  %s", name, strings.Join(bad, "\n  "))
	}
	return out, nil
}

// NATSSource splits nats://host:port/subject into the server's URL and the
// subject ("" when the string is not such a URL).
func NATSSource(s string) (server, subject string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return "", "", false
	}
	subject = strings.TrimPrefix(u.Path, "/")
	u.Path, u.RawPath = "", ""
	return u.String(), subject, true
}

// Listen subscribes to subject for d (or until ctx ends) and hands each
// message that is a CloudEvent to got; a message that is not one is handed
// to bad with why. ready is called once the server has the subscription.
func Listen(ctx context.Context, server, subject string, d time.Duration, ready func(), got func(Event), bad func(error)) error {
	nc, err := nats.Connect(server, nats.Name("wtb audit import"))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", redact(server), err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("subscribing to %s on %s: %w", subject, redact(server), err)
	}
	if ready != nil {
		ready()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-msgs:
			var e Event
			if err := json.Unmarshal(m.Data, &e); err != nil {
				bad(err)
				continue
			}
			got(e)
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// Imported is an entry's Details for an imported event.
type Imported struct {
	Imported   bool            `json:"imported"`
	Source     string          `json:"source"`
	ID         string          `json:"id"`
	Subject    string          `json:"subject,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	DataBase64 string          `json:"data_base64,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

// EntryID is an imported event's audit entry id: the same event (source
// and id, which CloudEvents makes unique together) is the same entry, so an
// import repeated stores nothing twice.
func EntryID(e Event) string {
	sum := sha256.Sum256([]byte(e.Source + "\x00" + e.ID))
	return "ce-" + hex.EncodeToString(sum[:12])
}

// Entry turns an imported event into an audit entry of batchID. The
// execution is the wtbexecutionkey attribute, or the subject when isKey
// says it names one of the batch's executions. The severity is a
// severity (or level) attribute or data field when it names one, else INFO.
// importedAt stands in for an event without a time.
func Entry(batchID string, e Event, isKey func(string) bool, importedAt time.Time) store.AuditEntry {
	var data map[string]any
	if len(e.Data) > 0 {
		_ = json.Unmarshal(e.Data, &data) // not an object: no fields to read
	}
	field := func(names ...string) string {
		for _, n := range names {
			if v := e.Extension(n); v != "" {
				return v
			}
			if s, ok := data[n].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	key := e.Extension(ExtExecutionKey)
	if key == "" && e.Subject != "" && isKey(e.Subject) {
		key = e.Subject
	}
	msg := field("message", "msg")
	if msg == "" {
		msg = e.Type
		if e.Subject != "" {
			msg += " " + e.Subject
		}
	}
	details, _ := json.Marshal(Imported{Imported: true, Source: e.Source, ID: e.ID, Subject: e.Subject, Data: e.Data,
		DataBase64: e.DataBase64, Extensions: e.Extensions})
	t := e.Time
	if t.IsZero() {
		t = importedAt
	}
	return store.AuditEntry{ID: EntryID(e), BatchID: batchID, Time: t, Severity: severity(field("severity", "level")),
		EventType: e.Type, Message: msg, ExecutionKey: key, Node: e.Extension(ExtNode), Details: details}
}

func severity(s string) string {
	switch strings.ToUpper(s) {
	case "DEBUG", "TRACE":
		return "DEBUG"
	case "SUCCESS", "OK":
		return "SUCCESS"
	case "WARN", "WARNING":
		return "WARNING"
	case "ERROR", "ERR", "FATAL", "CRITICAL":
		return "ERROR"
	}
	return "INFO"
}
