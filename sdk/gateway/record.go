package gateway

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"github.com/wtbench/wtb/sdk"
)

// recorder passes a live response through, piece by piece, and completes
// the interaction when it ends.
type recorder struct {
	run    *Run
	i      int
	x      sdk.Interaction
	src    io.ReadCloser
	keep   bool // record the body
	cancel context.CancelFunc
	turn   *slot // given back, with the tokens used, when the response ends

	once   sync.Once
	got    bool
	body   bytes.Buffer
	chunks []sdk.Chunk
	full   bool // past the run's recording limit
	// The usage is read as the response passes, recorded or not: a stream
	// line by line, a whole body up to maxUsageBody.
	usage     usageScanner
	usageBody bytes.Buffer
}

// maxUsageBody bounds the body of a live (not recorded) call kept to read its
// usage.
const maxUsageBody = 4 << 20

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	if n > 0 {
		if !r.got {
			r.got = true
			r.x.FirstByte = time.Since(r.x.Started)
		}
		if r.x.Streamed {
			r.usage.write(p[:n])
		} else if !r.keep && r.usageBody.Len()+n <= maxUsageBody {
			r.usageBody.Write(p[:n])
		}
		if r.keep && !r.full {
			if !r.run.reserve(n) {
				r.full = true
				r.body.Reset()
				r.chunks = nil
			} else if r.x.Streamed {
				r.chunks = append(r.chunks, sdk.Chunk{Data: bytes.Clone(p[:n]), Offset: time.Since(r.x.Started)})
			} else {
				r.body.Write(p[:n])
			}
		}
	}
	if err != nil {
		errText := ""
		if err != io.EOF {
			errText = "reading the response: " + err.Error()
		}
		r.end(errText)
	}
	return n, err
}

func (r *recorder) Close() error {
	err := r.src.Close()
	r.end("the response was not read to its end (the client went away)")
	return err
}

func (r *recorder) end(errText string) {
	r.once.Do(func() {
		r.cancel()
		x := r.x
		x.Duration = time.Since(x.Started)
		x.Error = errText
		if r.keep && !r.full {
			m := r.run.masker
			if x.Streamed {
				for j := range r.chunks {
					r.chunks[j].Data = m.bytes(r.chunks[j].Data)
				}
				x.Chunks = r.chunks
			} else {
				x.ResponseBody = m.bytes(r.body.Bytes())
			}
		}
		if mdl := responseModel(x.ResponseBody, x.Chunks); mdl != "" {
			x.Model = mdl
		}
		switch {
		case x.Streamed:
			x.Usage = r.usage.usage()
		case r.keep && !r.full:
			x.Usage = parseWhole(r.body.Bytes())
		default:
			x.Usage = parseWhole(r.usageBody.Bytes())
			if x.Model == "" {
				x.Model = responseModel(r.usageBody.Bytes(), nil)
			}
		}
		r.turn.release(x.Status, x.Usage.Total(), 0)
		r.run.finish(r.i, x)
	})
}
