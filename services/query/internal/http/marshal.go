package http

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// marshaler is the gateway's JSON: protojson with proto field names, except
// that a page of events — most of what the service answers, and with
// protojson's reflection about a quarter of its CPU for a first page — is
// written by appendSearchEventsResponse, generated from event.proto, to the
// same JSON value.
type marshaler struct {
	runtime.JSONPb
}

func newMarshaler() *marshaler {
	return &marshaler{runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
	}}
}

// Marshal writes v as JSON.
func (m *marshaler) Marshal(v any) ([]byte, error) {
	if r, ok := v.(*queryv1.SearchEventsResponse); ok {
		if b, ok := appendSearchEventsResponse(make([]byte, 0, 1024*(len(r.GetEvents())+1)), r); ok {
			return b, nil
		}
	}
	return m.JSONPb.Marshal(v)
}

func appendSearchEventsResponse(b []byte, r *queryv1.SearchEventsResponse) ([]byte, bool) {
	b = append(b, '{')
	ok := true
	if len(r.Events) > 0 {
		b = append(b, `"events":[`...)
		for i, e := range r.Events {
			if e == nil {
				return nil, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			var eok bool
			b, eok = appendStoredEvent(b, e)
			ok = ok && eok
		}
		b = append(b, ']')
	}
	if r.NextPageToken != "" {
		if len(r.Events) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"next_page_token":`...)
		b = eventdoc.AppendString(b, r.NextPageToken)
		ok = ok && utf8.ValidString(r.NextPageToken)
	}
	return append(b, '}'), ok
}

// jsonObject writes the members of a JSON object as protojson does for a
// proto3 message with UseProtoNames: the proto name as key, fields with
// their zero value left out, 64-bit integers as strings, a Timestamp in
// RFC 3339 UTC with 0, 3, 6 or 9 fractional digits, map entries by key.
// ok turns false on a value protojson refuses (text that is not UTF-8, a
// Timestamp out of its range). Keys are field names: no escaping needed.
type jsonObject struct {
	b  []byte
	n  int
	ok bool
}

func (o *jsonObject) key(name string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, name...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObject) str(name, v string) {
	if v == "" {
		return
	}
	o.ok = o.ok && utf8.ValidString(v)
	o.key(name)
	o.b = eventdoc.AppendString(o.b, v)
}

func (o *jsonObject) boolean(name string, v bool) {
	if v {
		o.key(name)
		o.b = append(o.b, "true"...)
	}
}

func (o *jsonObject) int64(name string, v int64) {
	if v != 0 {
		o.key(name)
		o.b = append(o.b, '"')
		o.b = strconv.AppendInt(o.b, v, 10)
		o.b = append(o.b, '"')
	}
}

// The range protojson accepts for a Timestamp: 0001-01-01 to 9999-12-31.
const (
	minTimestamp = -62135596800
	maxTimestamp = 253402300799
)

func (o *jsonObject) timestamp(name string, t *timestamppb.Timestamp) {
	if t == nil {
		return
	}
	secs, nanos := t.GetSeconds(), t.GetNanos()
	if secs < minTimestamp || secs > maxTimestamp || nanos < 0 || nanos >= 1e9 {
		o.ok = false
		return
	}
	o.key(name)
	o.b = append(o.b, '"')
	o.b = appendDateTime(o.b, time.Unix(secs, 0).UTC())
	if nanos != 0 {
		digits := 9
		switch {
		case nanos%1e6 == 0:
			nanos, digits = nanos/1e6, 3
		case nanos%1e3 == 0:
			nanos, digits = nanos/1e3, 6
		}
		var frac [10]byte
		frac[0] = '.'
		for i := digits; i > 0; i-- {
			frac[i] = byte('0' + nanos%10)
			nanos /= 10
		}
		o.b = append(o.b, frac[:digits+1]...)
	}
	o.b = append(o.b, 'Z', '"')
}

// appendDateTime appends t as 2006-01-02T15:04:05 (a year of four digits,
// as protojson's range guarantees): AppendFormat with that layout read the
// layout anew for each of a page's ~200 timestamps.
func appendDateTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	return appendDigits(b, second, 2)
}

// appendDigits appends the last n decimal digits of v (v >= 0), zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	var d [4]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

func (o *jsonObject) stringMap(name string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	o.key(name)
	var room [16]string // most metadata maps: keys sorted without a heap slice
	keys := room[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o.b = append(o.b, '{')
	for i, k := range keys {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.ok = o.ok && utf8.ValidString(k) && utf8.ValidString(m[k])
		o.b = eventdoc.AppendString(o.b, k)
		o.b = append(o.b, ':')
		o.b = eventdoc.AppendString(o.b, m[k])
	}
	o.b = append(o.b, '}')
}
