package opensearch

import (
	"encoding/json"
	"fmt"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// decodeResponse reads the parts of a search answer the searcher uses. A
// page of events is most of what the service decodes, so it is parsed once
// (fastjson, no reflection) and each hit's _source read by decodeSource,
// generated from the document's fields; encoding/json took about four times
// as long and most of a first page's CPU in the service. The text of every
// hit is copied into one arena the size of the answer, not into a string
// an attribute (two thirds of a first page's allocations).
func decodeResponse(p *fastjson.Parser, body []byte) (*searchResponse, error) {
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	var sr searchResponse
	if t := v.Get("timed_out"); t != nil && t.Type() != fastjson.TypeNull {
		if sr.TimedOut, err = t.Bool(); err != nil {
			return nil, fmt.Errorf("decode answer: timed_out: %w", err)
		}
	}
	if sh := v.Get("_shards"); sh != nil && sh.Type() != fastjson.TypeNull {
		for _, f := range []struct {
			name string
			dst  *int
		}{{"total", &sr.Shards.Total}, {"successful", &sr.Shards.Successful}, {"skipped", &sr.Shards.Skipped}, {"failed", &sr.Shards.Failed}} {
			if n := sh.Get(f.name); n != nil && n.Type() != fastjson.TypeNull {
				if *f.dst, err = n.Int(); err != nil {
					return nil, fmt.Errorf("decode answer: _shards.%s: %w", f.name, err)
				}
			}
		}
		if fs := sh.Get("failures"); fs != nil {
			sr.Shards.Failures = fs.MarshalTo(nil)
		}
	}
	if hits := v.Get("hits"); hits != nil && hits.Type() != fastjson.TypeNull {
		if t := hits.Get("total", "value"); t != nil {
			if sr.Hits.Total.Value, err = t.Int64(); err != nil {
				return nil, fmt.Errorf("decode answer: hits.total.value: %w", err)
			}
		}
		if hv := hits.Get("hits"); hv != nil && hv.Type() != fastjson.TypeNull {
			items, err := hv.Array()
			if err != nil {
				return nil, fmt.Errorf("decode answer: hits.hits: %w", err)
			}
			sr.Hits.Hits = make([]hit, len(items))
			sorts := sortArena{bytes: make([]byte, 0, 48*len(items)), vals: make([]json.RawMessage, 0, 2*len(items))}
			text := &strArena{b: make([]byte, 0, len(body))}
			for i, item := range items {
				if err := decodeHit(item, &sr.Hits.Hits[i], &sorts, text); err != nil {
					return nil, fmt.Errorf("decode answer: hit %d: %w", i, err)
				}
			}
		}
	}
	if a := v.Get("aggregations"); a != nil {
		sr.Aggregations = a.MarshalTo(nil)
	}
	return &sr, nil
}

func decodeHit(v *fastjson.Value, h *hit, sorts *sortArena, text *strArena) error {
	if src := v.Get("_source"); src != nil && src.Type() != fastjson.TypeNull {
		if err := decodeSource(src, &h.Source, text); err != nil {
			return err
		}
	}
	if sv := v.Get("sort"); sv != nil && sv.Type() != fastjson.TypeNull {
		vals, err := sv.Array()
		if err != nil {
			return fmt.Errorf("sort: %w", err)
		}
		h.Sort = sorts.take(vals)
	}
	return nil
}

// sortArena holds the sort values of an answer's hits in two allocations
// rather than a few a hit: every hit has them, one is read (the cursor of
// the next page).
type sortArena struct {
	bytes []byte
	vals  []json.RawMessage
}

// take appends vs and returns them. What it returned stays as it was: a
// slice that grows moves to a new array and leaves the old one alone.
func (a *sortArena) take(vs []*fastjson.Value) []json.RawMessage {
	start := len(a.vals)
	for _, v := range vs {
		from := len(a.bytes)
		a.bytes = v.MarshalTo(a.bytes)
		a.vals = append(a.vals, a.bytes[from:len(a.bytes):len(a.bytes)])
	}
	return a.vals[start:len(a.vals):len(a.vals)]
}

// strArena holds the strings of one answer in one allocation: str copies
// bytes to its end and returns them as a string. The bytes a string was
// given are never written again — an append that outgrows the array moves
// on to a new one and leaves the old array to the strings made from it —
// so the strings are as immutable as any other.
type strArena struct{ b []byte }

func (a *strArena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	from := len(a.b)
	a.b = append(a.b, b...)
	return unsafe.String(&a.b[from], len(b))
}

// storedSlab hands out the StoredEvents of one page and their Timestamps
// from two allocations instead of one a message; a nil slab allocates each.
type storedSlab struct {
	events []telemetryv1.StoredEvent
	times  []timestamppb.Timestamp
}

func newStoredSlab(events int) *storedSlab {
	return &storedSlab{events: make([]telemetryv1.StoredEvent, events), times: make([]timestamppb.Timestamp, events*timestampsPerEvent)}
}

func (a *storedSlab) event() *telemetryv1.StoredEvent {
	if a == nil || len(a.events) == 0 {
		return new(telemetryv1.StoredEvent)
	}
	e := &a.events[0]
	a.events = a.events[1:]
	return e
}

// timestamp is timestamppb.New(t).
func (a *storedSlab) timestamp(t time.Time) *timestamppb.Timestamp {
	if a == nil || len(a.times) == 0 {
		return timestamppb.New(t)
	}
	ts := &a.times[0]
	a.times = a.times[1:]
	ts.Seconds, ts.Nanos = t.Unix(), int32(t.Nanosecond())
	return ts
}

// Stored is the query API's view of an indexed document.
func Stored(s *eventdoc.Source) *telemetryv1.StoredEvent { return stored(s, nil) }

// The readers of one _source member, for decodeSource. A null leaves dst
// as it is (nil for a pointer), as encoding/json does.

func readString(a *strArena, v *fastjson.Value, dst *string) error {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return err
	}
	*dst = a.str(b)
	return nil
}

// readTime reads a date in either form a document holds: a number read
// in a's spare room (the number's text copied there and given back), or an
// RFC 3339 string.
func readTime(a *strArena, v *fastjson.Value, dst *time.Time) error {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() == fastjson.TypeNumber {
		// Epoch milliseconds, the nanoseconds as a fraction, as enrich
		// writes a date (a number's MarshalTo is its text as it stood).
		from := len(a.b)
		a.b = v.MarshalTo(a.b)
		t, err := eventdoc.ParseMillis(a.b[from:])
		a.b = a.b[:from]
		if err != nil {
			return err
		}
		*dst = t
		return nil
	}
	// An RFC 3339 string, as documents indexed before were written, read
	// from the bytes as encoding/json reads a time.Time (time.Parse would
	// want a string made of them first).
	b, err := v.StringBytes()
	if err != nil {
		return err
	}
	return dst.UnmarshalText(b)
}

func readTimePtr(a *strArena, v *fastjson.Value, dst **time.Time) error {
	if v.Type() == fastjson.TypeNull {
		*dst = nil
		return nil
	}
	var t time.Time
	if err := readTime(a, v, &t); err != nil {
		return err
	}
	*dst = &t
	return nil
}

func readInt64(v *fastjson.Value, dst *int64) error {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	n, err := v.Int64()
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

func readInt64Ptr(v *fastjson.Value, dst **int64) error {
	if v.Type() == fastjson.TypeNull {
		*dst = nil
		return nil
	}
	var n int64
	if err := readInt64(v, &n); err != nil {
		return err
	}
	*dst = &n
	return nil
}

func readBool(v *fastjson.Value, dst *bool) error {
	switch v.Type() {
	case fastjson.TypeNull:
	case fastjson.TypeTrue:
		*dst = true
	case fastjson.TypeFalse:
		*dst = false
	default:
		return fmt.Errorf("expected a boolean, got %s", v.Type())
	}
	return nil
}

func readStringMap(a *strArena, v *fastjson.Value, dst *map[string]string) error {
	if v.Type() == fastjson.TypeNull {
		*dst = nil
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return err
	}
	m := make(map[string]string, o.Len())
	var bad error
	o.Visit(func(k []byte, mv *fastjson.Value) {
		if bad != nil {
			return
		}
		var s string
		if err := readString(a, mv, &s); err != nil {
			bad = fmt.Errorf("%q: %w", k, err)
			return
		}
		m[a.str(k)] = s
	})
	if bad != nil {
		return bad
	}
	*dst = m
	return nil
}
