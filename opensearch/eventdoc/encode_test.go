package eventdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sample() Source {
	sent := time.Date(2026, 11, 26, 10, 0, 1, 500, time.UTC)
	skew := int64(-1234)
	return Source{DocID: "id", AppID: "app", EventID: "e\"1", UserID: "u\\1", SessionID: "s<1>&", EventName: "tap\n",
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), ClientTimestamp: time.Date(2026, 11, 26, 11, 0, 0, 0, time.FixedZone("x", 3600)),
		ReceivedAt: time.Date(2026, 11, 26, 10, 0, 2, 0, time.UTC), SentAt: &sent, IngestedAt: time.Date(2026, 11, 26, 10, 0, 3, 1000, time.UTC),
		ClockSkewMs: &skew, ClockSkewed: true, TimestampClamped: true, AppVersion: "1", DeviceOS: "iOS 18.1", OSName: "iOS", OSVersion: "18.1",
		DeviceModel: "iPhone15,2", UserAgent: "UA\x01\x1f", Country: "GB", City: "Zürich",
		Metadata: map[string]string{"k": "v", "bad\xff": "x\u2028y", "": "empty key"}, Message: "bad \xc3\x28 utf8 and emoji 🚀"}
}

// reference is s as a JSON document, written by reflection over Source's
// fields and their json tags (omitempty as encoding/json reads it), each
// date written by date: what the generated encoder must write, field by
// field, whatever fields event.proto declares.
func reference(t *testing.T, s *Source, date func(time.Time) any) map[string]any {
	t.Helper()
	doc := map[string]any{}
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		name, opts, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		f := v.Field(i)
		if opts == "omitempty" && f.IsZero() || opts == "omitempty" && (f.Kind() == reflect.Map || f.Kind() == reflect.Slice) && f.Len() == 0 {
			continue
		}
		switch x := f.Interface().(type) {
		case time.Time:
			doc[name] = date(x)
		case *time.Time:
			doc[name] = date(*x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			doc[name] = decodeNumbers(t, b)
		}
	}
	return doc
}

// decodeNumbers is JSON b as an any, its numbers as written.
func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

// millis is a date as a document holds it: epoch milliseconds with the
// nanoseconds as a fraction, or RFC 3339 before 1970-01-01T00:00:10Z (the
// whole milliseconds of the first ten seconds have four digits, which the
// mapping's format reads as a year) and from the year 10000 on.
func millis(t time.Time) any {
	if t.Before(time.Unix(10, 0)) || t.Year() >= 10000 {
		return t.UTC().Format(time.RFC3339Nano)
	}
	s := strconv.FormatInt(t.UnixMilli(), 10)
	if frac := strings.TrimRight(fmt.Sprintf("%06d", t.Nanosecond()%1e6), "0"); frac != "" {
		s += "." + frac
	}
	return json.Number(s)
}

// TestAppendJSONMatchesReference: the generated encoder writes every field
// shape as the reflection reference does, its dates in epoch milliseconds,
// and encoding/json writes the same (Source.MarshalJSON).
func TestAppendJSONMatchesReference(t *testing.T) {
	full := sample()
	for name, s := range map[string]Source{
		"every field": full,
		"minimal":     {DocID: "d", AppID: "a", EventID: "e", EventName: "n"},
		"zero skew":   func() Source { s := full; z := int64(0); s.ClockSkewMs = &z; s.Metadata = nil; return s }(),
		"before 1970": func() Source {
			s := full
			s.Timestamp = time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)
			return s
		}(),
		"1970, four-digit milliseconds": func() Source {
			s := full
			s.Timestamp, s.ClientTimestamp, s.ReceivedAt = time.Unix(5, 0).UTC(), time.Unix(9, 999999999).UTC(), time.Unix(10, 0).UTC()
			return s
		}(),
		"year 10000": func() Source {
			s := full
			s.Timestamp, s.ClientTimestamp = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			return s
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			got := s.AppendJSON(nil)
			gg := decodeNumbers(t, got)
			if want := any(reference(t, &s, millis)); !reflect.DeepEqual(want, gg) {
				t.Fatalf("differ:\nreference  %v\nAppendJSON %s", want, got)
			}
			viaJSON, err := json.Marshal(s)
			if err != nil || !reflect.DeepEqual(decodeNumbers(t, viaJSON), gg) || len(s.Metadata) <= 1 && string(viaJSON) != string(got) {
				t.Fatalf("encoding/json %s (%v)\nAppendJSON    %s", viaJSON, err, got)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\b\f\x00\x1f", "<>&", "\xff\xc3\x28", "\u2028\u2029", "🚀é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	s := sample()
	buf := make([]byte, 0, 2048)
	for b.Loop() {
		buf = s.AppendJSON(buf[:0])
	}
}

// TestAppendJSONEveryField fills every field of Source by reflection — a
// field added to event.proto is covered without editing this test — and
// checks the generated encoder writes each one as the reference does, and
// that a document reads back into the same Source, to the nanosecond:
// written now (dates in epoch milliseconds) and as documents indexed
// before were (RFC 3339 dates).
func TestAppendJSONEveryField(t *testing.T) {
	var s Source
	v := reflect.ValueOf(&s).Elem()
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	for i := range v.NumField() {
		f := v.Field(i)
		switch p := f.Addr().Interface().(type) {
		case *string:
			*p = "v\"" + v.Type().Field(i).Name
		case *bool:
			*p = true
		case *int64:
			*p = -int64(i)
		case **int64:
			n := int64(-i)
			*p = &n
		case *time.Time:
			*p = at.Add(time.Duration(i) * time.Second)
		case **time.Time:
			tt := at.Add(time.Duration(i) * time.Minute)
			*p = &tt
		case *map[string]string:
			*p = map[string]string{"k": v.Type().Field(i).Name}
		case *[]string:
			*p = []string{"a\"" + v.Type().Field(i).Name, "b"}
		default:
			t.Fatalf("field %s has a type this test does not fill: %s", v.Type().Field(i).Name, f.Type())
		}
	}
	got := s.AppendJSON(nil)
	if want, gg := any(reference(t, &s, millis)), decodeNumbers(t, got); !reflect.DeepEqual(want, gg) {
		t.Fatalf("differ:\nreference  %v\nAppendJSON %s", want, got)
	}

	var back Source
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Fatalf("read back:\n%+v\nwant\n%+v", back, s)
	}
	old, err := json.Marshal(reference(t, &s, func(t time.Time) any { return t.Format(time.RFC3339Nano) }))
	if err != nil {
		t.Fatal(err)
	}
	var fromOld Source
	if err := json.Unmarshal(old, &fromOld); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromOld, s) {
		t.Fatalf("an RFC 3339 document read back:\n%+v\nwant\n%+v", fromOld, s)
	}
}

// TestUnmarshalJSONLeavesAbsentFields: as encoding/json does, a date the
// document lacks keeps the value it had; null clears an optional one.
func TestUnmarshalJSONLeavesAbsentFields(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := Source{Timestamp: at, SentAt: &at, ReceivedAt: at}
	if err := json.Unmarshal([]byte(`{"received_at":1795687260000.000001,"sent_at":null,"client_timestamp":"2026-11-26T10:00:00.5Z"}`), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Timestamp.Equal(at) || s.SentAt != nil || !s.ReceivedAt.Equal(at.Add(time.Minute+time.Nanosecond)) || !s.ClientTimestamp.Equal(at.Add(500*time.Millisecond)) {
		t.Fatalf("%+v", s)
	}
	for _, bad := range []string{`{"timestamp":"yesterday"}`, `{"timestamp":1.5e3}`, `{"timestamp":true}`, `{"timestamp":-5}`,
		`{"timestamp":1.1234567}`, `{"timestamp":1.}`, `{"timestamp":01}`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s: read without an error", bad)
		}
	}
}

// TestMayEscape8 checks the eight-byte test against the byte table for
// every pair of byte values at every pair of positions (the other bytes
// plain): a borrow from one byte must not hide or invent another's answer.
func TestMayEscape8(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			want := !plain[a] || !plain[b]
			for i := range 8 {
				for j := range 8 {
					if i == j {
						continue
					}
					w := []byte("xxxxxxxx")
					w[i], w[j] = byte(a), byte(b)
					if got := mayEscape8(string(w)); got != want {
						t.Fatalf("%q: mayEscape8 %v, want %v", w, got, want)
					}
				}
			}
		}
	}
}

// FuzzParseMillis: a number ParseMillis takes is an instant appendMillis
// writes as the same number (trailing zeros of the fraction aside) and
// reads back to the nanosecond.
func FuzzParseMillis(f *testing.F) {
	for _, c := range []string{"0", "5000", "9999.5", "10000", "1795687200123", "1795687200123.456789", "1795687200123.5", "1.", ".5", "01", "-1", "1e3",
		"253402300799999.999999", "253402300800000", "999999999999999", "1000000000000000", "1.1234567"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, err := ParseMillis([]byte(s))
		if err != nil {
			return
		}
		back := string(appendMillis(nil, "", at))
		if trimmed := strings.TrimSuffix(strings.TrimRight(s, "0"), "."); strings.Contains(s, ".") && back != trimmed || !strings.Contains(s, ".") && back != s {
			t.Fatalf("%q read as %v, written back as %q", s, at, back)
		}
		if again, err := ParseMillis([]byte(back)); err != nil || !again.Equal(at) {
			t.Fatalf("%q read back as %v (%v), want %v", back, again, err, at)
		}
	})
}

func TestReadDateReadsWhatAppendMillisWrites(t *testing.T) {
	for _, at := range []time.Time{time.Unix(0, 0).UTC(), time.Unix(0, 1).UTC(), time.Unix(9, 999999999).UTC(), time.Unix(10, 0).UTC(),
		time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), time.Date(2026, 11, 26, 10, 0, 0, 100, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		b := appendMillis(nil, "", at)
		if number := b[0] != '"'; number != (at.Unix() >= 10 && at.Year() < 10000) {
			t.Errorf("%v written as %s", at, b)
		}
		if at.Year() >= 10000 {
			continue // OpenSearch refuses the document (a dead letter): never read back
		}
		got, err := ReadDate(b)
		if err != nil || !got.Equal(at) {
			t.Errorf("%v written as %s, read as %v (%v)", at, b, got, err)
		}
	}
}
