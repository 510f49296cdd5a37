package eventdoc

import (
	"encoding/json"
	"reflect"
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

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder and
// encoding/json produce the same document for every field shape.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	full := sample()
	for name, s := range map[string]Source{
		"every field": full,
		"minimal":     {DocID: "d", AppID: "a", EventID: "e", EventName: "n"},
		"zero skew":   func() Source { s := full; z := int64(0); s.ClockSkewMs = &z; s.Metadata = nil; return s }(),
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(&s)
			if err != nil {
				t.Fatal(err)
			}
			got := s.AppendJSON(nil)
			var gw, gg map[string]any
			if err := json.Unmarshal(want, &gw); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &gg); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got)
			}
			if !reflect.DeepEqual(gw, gg) {
				t.Fatalf("differ:\nencoding/json %s\nAppendJSON    %s", want, got)
			}
			if len(s.Metadata) <= 1 && string(got) != string(want) {
				t.Fatalf("bytes differ:\n%s\n%s", want, got)
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

// FuzzAppendRFC3339Nano: the fast path writes exactly what time.RFC3339Nano
// does, for any instant, in UTC and in other zones.
func FuzzAppendRFC3339Nano(f *testing.F) {
	for _, c := range []struct {
		sec  int64
		nsec int64
	}{{0, 0}, {1795600000, 123456789}, {1795600000, 100}, {1795600000, 500000000}, {-62135596800, 0}, {253402300799, 999999999}, {253402300800, 1}, {-62135596801, 7}} {
		f.Add(c.sec, c.nsec, false)
	}
	f.Add(int64(1795600000), int64(1), true)
	f.Fuzz(func(t *testing.T, sec, nsec int64, zoned bool) {
		tm := time.Unix(sec, nsec).UTC()
		if zoned {
			tm = tm.In(time.FixedZone("x", 5400))
		}
		want := tm.AppendFormat(nil, time.RFC3339Nano)
		if got := appendRFC3339Nano(nil, tm); string(got) != string(want) {
			t.Fatalf("%d.%09d: got %s, want %s", sec, nsec, got, want)
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
// checks the generated encoder writes each one as encoding/json does.
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
	want, _ := json.Marshal(&s)
	got := s.AppendJSON(nil)
	if string(got) != string(want) {
		t.Fatalf("differ:\nencoding/json %s\nAppendJSON    %s", want, got)
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
