package opensearch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// fullSource is a document with every field set, by reflection, with
// values that need escaping and times with nanoseconds.
func fullSource(t testing.TB, n int) eventdoc.Source {
	var s eventdoc.Source
	v := reflect.ValueOf(&s).Elem()
	at := time.Date(2026, 11, 26, 10, 0, n%60, 123456789, time.UTC)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			*p = fmt.Sprintf("%s-%d \"é\\\n\u2028", name, n)
		case *bool:
			*p = true
		case **int64:
			k := int64(-120 - n)
			*p = &k
		case *time.Time:
			*p = at.Add(time.Duration(i) * time.Hour)
		case **time.Time:
			u := at.Add(-time.Minute)
			*p = &u
		case *map[string]string:
			*p = map[string]string{"screen": "home", "build": "1042", "quote\"d": "a\tb", "dark_mode": "true"}
		case *[]string:
			// A text copy of another field (FillTextCopies): indexed, kept
			// out of _source, so never in an answer.
		default:
			t.Fatalf("eventdoc.Source.%s has a type this test does not fill", name)
		}
	}
	return s
}

// searchAnswer is a search answer as OpenSearch writes it, of n documents.
func searchAnswer(t testing.TB, n int) ([]byte, []eventdoc.Source) {
	var b strings.Builder
	b.WriteString(`{"took":3,"timed_out":false,"_shards":{"total":30,"successful":30,"skipped":0,"failed":0},"hits":{"total":{"value":` + fmt.Sprint(n) + `,"relation":"eq"},"max_score":null,"hits":[`)
	docs := make([]eventdoc.Source, n)
	for i := range docs {
		if i > 0 {
			b.WriteByte(',')
		}
		docs[i] = fullSource(t, i)
		fmt.Fprintf(&b, `{"_index":"telemetry-events-2026.11.26","_id":"d%d","_score":null,"_source":%s,"sort":[%d,"d%d"]}`,
			i, docs[i].AppendJSON(nil), docs[i].Timestamp.UnixMilli(), i)
	}
	b.WriteString(`]},"aggregations":{"days":{"buckets":[{"key":"a","doc_count":2}]}}}`)
	return []byte(b.String()), docs
}

// TestDecodeResponseMatchesEncodingJSON: the answer decodeResponse reads
// is the one encoding/json reads, for documents with every field set.
func TestDecodeResponseMatchesEncodingJSON(t *testing.T) {
	for _, n := range []int{0, 3, 51} { // none, a few, a first page
		body, docs := searchAnswer(t, n)
		var p fastjson.Parser
		got, err := decodeResponse(&p, body)
		if err != nil {
			t.Fatal(err)
		}
		var want searchResponse
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		// Compare the raw parts as values, not as byte strings.
		if !reflect.DeepEqual(compact(t, got.Aggregations), compact(t, want.Aggregations)) {
			t.Errorf("%d hits: aggregations %s, want %s", n, got.Aggregations, want.Aggregations)
		}
		got.Aggregations, want.Aggregations = nil, nil
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%d hits: decodeResponse:\n%+v\nencoding/json:\n%+v", n, got, &want)
		}
		// The answer's buffer and the parser (which parses a copy of it)
		// are reused for the next answer: no decoded string may still
		// point into either.
		for i := range body {
			body[i] = 'x'
		}
		if _, err := p.Parse(`"` + strings.Repeat("y", len(body)) + `"`); err != nil {
			t.Fatal(err)
		}
		for i := range docs {
			if !reflect.DeepEqual(got.Hits.Hits[i].Source, docs[i]) {
				t.Errorf("hit %d: %+v, want %+v", i, got.Hits.Hits[i].Source, docs[i])
			}
		}
	}
}

// TestStrArenaKeepsWhatItReturned: strings taken before the arena outgrew
// its arrays are unchanged after, and none runs into the next.
func TestStrArenaKeepsWhatItReturned(t *testing.T) {
	var a strArena // no room: takes grow it
	var got, want []string
	src := []byte("é\"\n")
	for i := range 200 {
		w := strings.Repeat(string(rune('a'+i%26)), i%7) + string(src[:i%len(src)])
		b := []byte(w)
		got = append(got, a.str(b))
		for j := range b {
			b[j] = 0 // the caller's bytes are not the string's
		}
		want = append(want, w)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("str %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// TestStoredSlab: a page's events taken from a slab are the events Stored
// allocates one by one, each with Timestamps of its own; a slab that runs
// out allocates.
func TestStoredSlab(t *testing.T) {
	_, docs := searchAnswer(t, 51)
	for _, room := range []int{51, 20, 0} {
		slab := newStoredSlab(room)
		seen := map[*timestamppb.Timestamp]bool{}
		for i := range docs {
			got := stored(&docs[i], slab)
			if want := Stored(&docs[i]); !proto.Equal(got, want) {
				t.Fatalf("room %d, event %d: %v, want %v", room, i, got, want)
			}
			for _, ts := range []*timestamppb.Timestamp{got.Timestamp, got.ClientTimestamp, got.ReceivedAt, got.IngestedAt, got.SentAt} {
				if ts == nil || seen[ts] {
					t.Fatalf("room %d, event %d: a Timestamp missing or shared with another", room, i)
				}
				seen[ts] = true
			}
		}
	}
}

// TestSortArenaKeepsWhatItReturned: values taken before the arena outgrew
// its arrays are unchanged after, and none runs into the next.
func TestSortArenaKeepsWhatItReturned(t *testing.T) {
	var p fastjson.Parser
	var a sortArena // no room: every take grows it
	var got [][]json.RawMessage
	var want [][]string
	for i := range 40 {
		v, err := p.Parse(fmt.Sprintf(`[%d,"doc-%s"]`, 1764000000000+i, strings.Repeat("x", i)))
		if err != nil {
			t.Fatal(err)
		}
		vs, _ := v.Array()
		got = append(got, a.take(vs))
		want = append(want, []string{fmt.Sprint(1764000000000 + i), `"doc-` + strings.Repeat("x", i) + `"`})
	}
	for i := range got {
		if len(got[i]) != 2 || string(got[i][0]) != want[i][0] || string(got[i][1]) != want[i][1] || cap(got[i][1]) != len(got[i][1]) {
			t.Errorf("take %d: %q (cap of the last %d), want %q", i, got[i], cap(got[i][len(got[i])-1]), want[i])
		}
	}
}

func compact(t *testing.T, b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecodeSource(t *testing.T) {
	ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, doc string
		want      eventdoc.Source
		err       string // "" for none; else a part of the error
	}{
		{name: "nulls leave fields unset", doc: `{"doc_id":null,"sent_at":null,"clock_skew_ms":null,"metadata":null,"clock_skewed":null,"timestamp":null}`},
		{name: "unknown members skipped", doc: `{"event_id":"e1","future_field":{"a":[1,2]},"EVENT_ID":"x"}`, want: eventdoc.Source{EventID: "e1"}},
		{name: "optional time and number", doc: `{"sent_at":"2026-11-26T10:00:00Z","clock_skew_ms":-42,"timestamp":"2026-11-26T10:00:00Z"}`,
			want: eventdoc.Source{SentAt: &ts, ClockSkewMs: ptr(int64(-42)), Timestamp: ts}},
		{name: "times in epoch milliseconds", doc: `{"sent_at":1795687200000,"timestamp":1795687200001}`,
			want: eventdoc.Source{SentAt: &ts, Timestamp: ts.Add(time.Millisecond)}},
		{name: "last duplicate wins", doc: `{"user_id":"a","user_id":"b"}`, want: eventdoc.Source{UserID: "b"}},
		{name: "empty metadata", doc: `{"metadata":{}}`, want: eventdoc.Source{Metadata: map[string]string{}}},
		{name: "number for a string", doc: `{"user_id":7}`, err: `"user_id"`},
		{name: "bad time", doc: `{"timestamp":"yesterday"}`, err: `"timestamp"`},
		{name: "nanoseconds as a fraction", doc: `{"timestamp":1795687200000.000501}`, want: eventdoc.Source{Timestamp: ts.Add(501 * time.Nanosecond)}},
		{name: "exponent for a time", doc: `{"timestamp":1.7e12}`, err: `"timestamp"`},
		{name: "negative time", doc: `{"timestamp":-1}`, err: `"timestamp"`},
		{name: "bool for a time", doc: `{"timestamp":true}`, err: `"timestamp"`},
		{name: "string for a bool", doc: `{"clock_skewed":"true"}`, err: `"clock_skewed"`},
		{name: "nested metadata value", doc: `{"metadata":{"a":{"b":"c"}}}`, err: `"metadata"`},
		{name: "fraction for a number", doc: `{"clock_skew_ms":1.5}`, err: `"clock_skew_ms"`},
		{name: "not an object", doc: `[1]`, err: "_source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p fastjson.Parser
			v, err := p.Parse(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			var got eventdoc.Source
			err = decodeSource(v, &got, &strArena{})
			var viaJSON eventdoc.Source
			jerr := json.Unmarshal([]byte(tc.doc), &viaJSON)
			switch {
			case tc.err == "":
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				if tc.name != "unknown members skipped" && (jerr != nil || !reflect.DeepEqual(viaJSON, tc.want)) {
					// encoding/json matches keys regardless of case; documents never rely on it.
					t.Errorf("encoding/json reads %+v (%v): the two disagree", viaJSON, jerr)
				}
			case err == nil || !strings.Contains(err.Error(), tc.err):
				t.Errorf("error %v, want one naming %s", err, tc.err)
			case jerr == nil:
				t.Errorf("encoding/json accepts what decodeSource refuses")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkDecodeFirstPage: a first page's answer (51 documents) as the
// searcher reads it, against encoding/json.
func BenchmarkDecodeFirstPage(b *testing.B) {
	body, _ := searchAnswer(b, 51)
	b.Run("fastjson", func(b *testing.B) {
		var p fastjson.Parser
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeResponse(&p, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var sr searchResponse
			if err := json.Unmarshal(body, &sr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
