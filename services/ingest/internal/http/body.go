package http

import (
	"bytes"
	"compress/gzip"
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
	buf := chargedBuf{budget: d.budget}
	fail := func(err error) ([]byte, func(), error) {
		buf.free()
		return nil, nil, err
	}
	// The trailer's ISIZE (the inflated size, mod 2^32, of the last
	// member) sizes the buffer of an honest single-member body at once; a
	// body that lies only gets the buffer grown as it inflates, and is cut
	// off at maxDecoded all the same.
	if hint := gzipSize(body); hint > 0 && hint <= d.maxDecoded {
		if err := buf.grow(int(hint)); err != nil {
			return fail(err)
		}
	}
	var one [1]byte
	for {
		start := len(buf.b)
		if start == cap(buf.b) {
			// Full: a byte more says whether there is more, before the
			// buffer grows for it.
			n, err := readFill(zr, one[:])
			if n == 0 && err == io.EOF {
				break
			}
			if n > 0 && int64(start+n) > d.maxDecoded {
				return fail(tooLargeDecoded(d.maxDecoded)) // over the limit, whatever follows
			}
			if err != nil && err != io.EOF {
				return fail(invalidGzip(err))
			}
			if err := buf.grow(int(min(int64(max(2*cap(buf.b), chunk)), d.maxDecoded))); err != nil {
				return fail(err)
			}
			buf.b = append(buf.b, one[0])
		}
		at := len(buf.b)
		n, err := readFill(zr, buf.b[at:min(cap(buf.b), at+chunk)])
		buf.b = buf.b[:at+n]
		if check != nil && len(buf.b) > start {
			if _, cerr := check.Write(buf.b[start:]); cerr != nil {
				return fail(cerr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(invalidGzip(err))
		}
	}
	return buf.b, buf.free, nil
}

func invalidGzip(err error) error {
	return &track.Error{Kind: track.KindInvalid, Code: "invalid_gzip", Message: "the body is not valid gzip: " + err.Error()}
}

func tooLargeDecoded(limit int64) error {
	return &track.Error{Kind: track.KindTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("the decompressed body is larger than %d bytes", limit)}
}

// gzipSize is the ISIZE of body's gzip trailer (0 for a body too short to
// have one): the inflated size mod 2^32 of its last member, as the sender
// wrote it — a hint, never trusted as a bound.
func gzipSize(body []byte) int64 {
	if len(body) < 18 { // a 10-byte header, an empty deflate block, the 8-byte trailer
		return 0
	}
	t := body[len(body)-4:]
	return int64(t[0]) | int64(t[1])<<8 | int64(t[2])<<16 | int64(t[3])<<24
}

// readFill reads into p until it is full (nil), the stream ends (io.EOF,
// with what was read before it) or another error.
func readFill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// chargedBuf is a byte slice whose whole array is charged to a budget:
// grow takes the new array's size before allocating it and gives back the
// old one's once its bytes are copied (charging the length only would leave
// up to half of a doubling array unaccounted for).
type chargedBuf struct {
	b       []byte
	budget  *track.Budget
	release func()
}

// grow makes the array newCap bytes (no smaller than it is).
func (c *chargedBuf) grow(newCap int) error {
	if newCap <= cap(c.b) {
		return nil
	}
	release, err := c.budget.Take(int64(newCap))
	if err != nil {
		return err
	}
	b := make([]byte, len(c.b), newCap)
	copy(b, c.b)
	c.free()
	c.b, c.release = b, release
	return nil
}

// free gives the array's charge back; the bytes must no longer be used.
func (c *chargedBuf) free() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
}

func truncateHeader(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
