package http

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// format is how a body is encoded.
type format int

const (
	formatJSON format = iota + 1
	formatProto
)

// mediaType reads Content-Type: JSON or protobuf, anything else is a 415.
func mediaType(header string) (format, error) {
	mt, _, err := mime.ParseMediaType(header)
	switch {
	case err == nil && mt == "application/json":
		return formatJSON, nil
	case err == nil && (mt == "application/x-protobuf" || mt == "application/protobuf"):
		return formatProto, nil
	default:
		return 0, &track.Error{Kind: track.KindUnsupported, Code: "unsupported_media_type",
			Message: "Content-Type must be application/json or application/x-protobuf"}
	}
}

// decompressor inflates gzip bodies without ever holding more than
// maxDecoded bytes of one body, charging what it holds to the shared memory
// budget as it grows: a gzip bomb is cut off while it is read, and many large
// bodies at once are refused (503) instead of exhausting memory.
type decompressor struct {
	maxDecoded int64
	budget     *track.Budget
	readers    sync.Pool
}

const chunk = 64 << 10

func newDecompressor(maxDecoded int64, budget *track.Budget) *decompressor {
	return &decompressor{maxDecoded: maxDecoded, budget: budget}
}

// decode returns the body for encoding ("" or "identity": as it is; "gzip":
// inflated). The body it returns is also written to check (when not nil) —
// an inflated one chunk by chunk, so that check's error stops the inflation
// (a JSON body with too many events is refused after its first MaxEvents+1
// elements, not after 8 MiB). release returns the memory taken from the
// budget; call it when the body is no longer used.
func (d *decompressor) decode(encoding string, body []byte, check io.Writer) (out []byte, release func(), err error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		if check != nil {
			if _, err := check.Write(body); err != nil {
				return nil, nil, err
			}
		}
		return body, func() {}, nil
	case "gzip":
	default:
		return nil, nil, &track.Error{Kind: track.KindUnsupported, Code: "unsupported_encoding",
			Message: fmt.Sprintf("Content-Encoding %q is not supported; use gzip or none", truncateHeader(encoding))}
	}
	zr, _ := d.readers.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader)
	}
	defer d.readers.Put(zr)
	if err := zr.Reset(bytes.NewReader(body)); err != nil {
		return nil, nil, &track.Error{Kind: track.KindInvalid, Code: "invalid_gzip", Message: "the body is not valid gzip: " + err.Error()}
	}
	var held track.Releases
	fail := func(err error) ([]byte, func(), error) {
		held.Release()
		return nil, nil, err
	}
	var buf bytes.Buffer
	for {
		r, err := d.budget.Take(chunk)
		if err != nil {
			return fail(err)
		}
		held = append(held, r)
		start := buf.Len()
		n, err := io.CopyN(&buf, zr, chunk)
		if int64(buf.Len()) > d.maxDecoded {
			return fail(&track.Error{Kind: track.KindTooLarge, Code: "body_too_large",
				Message: fmt.Sprintf("the decompressed body is larger than %d bytes", d.maxDecoded)})
		}
		if check != nil {
			if _, cerr := check.Write(buf.Bytes()[start:]); cerr != nil {
				return fail(cerr)
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n < chunk) {
			break
		}
		if err != nil {
			return fail(&track.Error{Kind: track.KindInvalid, Code: "invalid_gzip", Message: "the body is not valid gzip: " + err.Error()})
		}
	}
	return buf.Bytes(), held.Release, nil
}

func truncateHeader(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
