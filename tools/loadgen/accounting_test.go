package loadgen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/platform/opensearchx"
)

func TestIDsNumberRoundTrip(t *testing.T) {
	ids := NewIDs("run1")
	for _, n := range []uint64{0, 1, 9, 10, 12345, 1<<36 - 1} {
		id := ids.EventID(n)
		if len(id) != idWidth {
			t.Errorf("EventID(%d) = %q: width %d", n, id, len(id))
		}
		if got, ok := ids.Number(id); !ok || got != n {
			t.Errorf("Number(%q) = %d, %v; want %d", id, got, ok, n)
		}
	}
	// Another run whose id extends this one's, and ids not of this shape.
	for _, id := range []string{NewIDs("run12").EventID(3), "run1.3", "run1.03-------------", "run1.x-------------", "evt-1"} {
		if n, ok := ids.Number(id); ok {
			t.Errorf("Number(%q) = %d, want not ours", id, n)
		}
	}
}

func TestTallyCountsDistinctIDs(t *testing.T) {
	ids := NewIDs("tally")
	acceptedTen := func() *idSet {
		var s idSet
		for n := uint64(0); n < 10; n++ {
			s.add(n)
		}
		return &s
	}
	type doc struct {
		id   string
		docs int64
	}
	// exactly is one document per accepted id but skip, then extra, which
	// sets an id's number of documents.
	exactly := func(skip uint64, extra ...doc) []doc {
		var d []doc
		for n := uint64(0); n < 10; n++ {
			if n != skip {
				d = append(d, doc{ids.EventID(n), 1})
			}
		}
		for _, e := range extra {
			if i := slices.IndexFunc(d, func(x doc) bool { return x.id == e.id }); i >= 0 {
				d[i] = e
			} else {
				d = append(d, e)
			}
		}
		return d
	}
	tests := []struct {
		name    string
		indexed []doc
		want    Accounting
	}{
		{"exactly once", exactly(99),
			Accounting{AcceptedEvents: 10, IndexedEvents: 10, Documents: 10}},
		// The totals agree (10 accepted, 10 documents): only ids show the loss.
		{"one missing and one doubled", exactly(3, doc{ids.EventID(5), 2}),
			Accounting{AcceptedEvents: 10, IndexedEvents: 9, Lost: 1, Duplicated: 1, Documents: 10}},
		{"one written three times", exactly(99, doc{ids.EventID(7), 3}),
			Accounting{AcceptedEvents: 10, IndexedEvents: 10, Duplicated: 2, Documents: 12}},
		{"indexed without a 202", exactly(99, doc{ids.EventID(10), 1}),
			Accounting{AcceptedEvents: 10, IndexedEvents: 10, Documents: 11, Unaccepted: 1}},
		{"an id the run never gave out", exactly(99, doc{"tally.x-------------", 1}),
			Accounting{AcceptedEvents: 10, IndexedEvents: 10, Documents: 11, Unaccepted: 1}},
		{"nothing indexed", nil,
			Accounting{AcceptedEvents: 10, Lost: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := &tally{ids: ids, accepted: acceptedTen()}
			for _, d := range tt.indexed {
				tl.add(d.id, d.docs)
			}
			if got := tl.result(); got != tt.want {
				type fields Accounting // without String, to show every field
				t.Errorf("got  %+v\nwant %+v", fields(got), fields(tt.want))
			}
		})
	}
	if got := (Accounting{AcceptedEvents: 10, IndexedEvents: 9, Lost: 1, Duplicated: 1}).String(); got != "accepted 10, indexed 9, lost 1, duplicated 1" {
		t.Errorf("String() = %q", got)
	}
}

// TestSearchableAcceptedSkipsInvalidEvents: events made invalid on purpose
// are not accepted, so they are not expected in OpenSearch.
func TestSearchableAcceptedSkipsInvalidEvents(t *testing.T) {
	s := NewSearchable("http://unused", "unused-*", NewIDs("inv"))
	s.Accepted(Accepted{FirstID: 100, Events: 5, Invalid: []int{0, 3}, Accepted: 3})
	s.Accepted(Accepted{FirstID: 100, Events: 5, Invalid: []int{0, 3}, Accepted: 3}) // the same batch again
	if got := s.AcceptedEvents(); got != 3 {
		t.Errorf("AcceptedEvents = %d, want 3", got)
	}
	for n, want := range map[uint64]bool{100: false, 101: true, 102: true, 103: false, 104: true} {
		if s.accepted.has(n) != want {
			t.Errorf("event %d accepted: %v, want %v", n, !want, want)
		}
	}
	if _, ok := s.pending[101]; !ok || len(s.pending) != 1 {
		t.Errorf("pending %v: want the batch's first valid event, 101", s.pending)
	}
}

// TestScanEventIDsPages: the scan follows after_key until a page is empty
// and counts documents per (app_id, event_id).
func TestScanEventIDsPages(t *testing.T) {
	pages := []string{
		`{"aggregations":{"ids":{"after_key":{"event_id":"b","app_id":"x"},"buckets":[{"key":{"event_id":"a","app_id":"x"},"doc_count":1},{"key":{"event_id":"b","app_id":"x"},"doc_count":2}]}}}`,
		`{"aggregations":{"ids":{"after_key":{"event_id":"c","app_id":"x"},"buckets":[{"key":{"event_id":"c","app_id":"x"},"doc_count":1}]}}}`,
		`{"aggregations":{"ids":{"buckets":[]}}}`,
	}
	var afters []any
	refreshed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_refresh") {
			refreshed = true
			io.WriteString(w, `{}`)
			return
		}
		var body struct {
			Query map[string]any `json:"query"`
			Aggs  struct {
				IDs struct {
					Composite struct {
						After any `json:"after"`
					} `json:"composite"`
				} `json:"ids"`
			} `json:"aggs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("request body: %v", err)
		}
		if p, _ := body.Query["prefix"].(map[string]any); p["event_id"] != "run." {
			t.Errorf("query %v, want a prefix query on event_id run.", body.Query)
		}
		afters = append(afters, body.Aggs.IDs.Composite.After)
		io.WriteString(w, pages[min(len(afters)-1, len(pages)-1)])
	}))
	defer srv.Close()
	got := map[string]int64{}
	c, err := opensearchx.NewClient(opensearchx.Options{URL: srv.URL, Transport: srv.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	err = ScanEventIDs(context.Background(), c, "p-*", "run.", func(app, id string, docs int64) { got[app+"/"+id] += docs })
	if err != nil {
		t.Fatal(err)
	}
	if !refreshed {
		t.Errorf("no refresh before the scan")
	}
	if len(got) != 3 || got["x/a"] != 1 || got["x/b"] != 2 || got["x/c"] != 1 {
		t.Errorf("got %v", got)
	}
	if len(afters) != 3 || afters[0] != nil || afters[1].(map[string]any)["event_id"] != "b" || afters[2].(map[string]any)["event_id"] != "c" {
		t.Errorf("after keys sent: %v", afters)
	}
}
