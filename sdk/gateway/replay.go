package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// replay answers a call from its recording.
func (g *Gateway) replay(ctx context.Context, run *Run, i int, x sdk.Interaction, rec *sdk.Interaction, paced bool) *http.Response {
	x.Source = sdk.SourceReplayed
	x.Status, x.ResponseHeaders, x.Streamed = rec.Status, rec.ResponseHeaders, rec.Streamed
	x.ResponseBody, x.Chunks = rec.ResponseBody, rec.Chunks
	if x.Model == "" || rec.Model != "" {
		x.Model = rec.Model
	}
	// A replayed call counts the tokens it recorded: a replayed batch says
	// what it would cost live.
	x.Usage = rec.Usage
	if !x.Usage.Reported {
		var chunks [][]byte
		for _, c := range rec.Chunks {
			chunks = append(chunks, c.Data)
		}
		x.Usage = ParseUsage(rec.ResponseBody, chunks)
	}
	x.Duration, x.FirstByte = time.Since(x.Started), time.Since(x.Started)
	run.finish(i, x)
	resp := &http.Response{StatusCode: rec.Status, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1, Proto: "HTTP/1.1"}
	for k, v := range rec.ResponseHeaders {
		resp.Header.Set(k, v)
	}
	resp.Header.Del("Content-Length")
	resp.Header.Set(SourceHeader, sdk.SourceReplayed)
	if rec.Streamed {
		resp.ContentLength = -1
		resp.Body = &chunkReader{ctx: ctx, chunks: rec.Chunks, start: time.Now(), paced: paced}
	} else {
		resp.ContentLength = int64(len(rec.ResponseBody))
		resp.Header.Set("Content-Length", strconv.Itoa(len(rec.ResponseBody)))
		resp.Body = io.NopCloser(bytes.NewReader(rec.ResponseBody))
	}
	return resp
}

// chunkReader replays a streamed response's pieces, each in its own read
// (the writer flushes after each), at once or at the recorded pace.
type chunkReader struct {
	ctx    context.Context
	chunks []sdk.Chunk
	start  time.Time
	paced  bool
	cur    []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if len(c.chunks) == 0 {
			return 0, io.EOF
		}
		next := c.chunks[0]
		c.chunks = c.chunks[1:]
		if c.paced {
			if wait := time.Until(c.start.Add(next.Offset)); wait > 0 {
				select {
				case <-time.After(wait):
				case <-c.ctx.Done():
					return 0, c.ctx.Err()
				}
			}
		}
		c.cur = next.Data
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

func (c *chunkReader) Close() error { return nil }
