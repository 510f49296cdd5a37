package loadgen

import (
	"context"
	"fmt"
	"testing"

	"github.com/evtrack/telemetry/platform/testenv"
)

// TestSearchableResultFindsLossHiddenByADuplicate runs the accounting
// against the real OpenSearch: ten events accepted, one of them never
// indexed and another indexed twice (in two daily indices, where create-by-id
// cannot catch it). Totals agree (10 = 10); the accounting must say lost 1,
// duplicated 1.
func TestSearchableResultFindsLossHiddenByADuplicate(t *testing.T) {
	url, prefix := testenv.Indices(t, "loadgen")
	ids := NewIDs("acct")
	s := NewSearchable(url, prefix+"-*", ids)
	s.Accepted(Accepted{FirstID: 0, Events: 10, Accepted: 10})

	for _, day := range []string{"2026.11.26", "2026.11.27"} {
		testenv.PutJSON(t, url, "/"+prefix+"-"+day, `{"mappings":{"properties":{"event_id":{"type":"keyword"},"app_id":{"type":"keyword"}}}}`)
	}
	doc := func(day string, n uint64) {
		testenv.PutJSON(t, url, fmt.Sprintf("/%s-%s/_doc/%d", prefix, day, n), fmt.Sprintf(`{"app_id":"app-1","event_id":%q}`, ids.EventID(n)))
	}
	for n := uint64(0); n < 10; n++ {
		if n != 3 {
			doc("2026.11.26", n)
		}
	}
	doc("2026.11.27", 5)
	// Another run's event under the same indices is not this run's.
	testenv.PutJSON(t, url, "/"+prefix+"-2026.11.26/_doc/other", fmt.Sprintf(`{"app_id":"app-1","event_id":%q}`, NewIDs("acct1").EventID(0)))

	r, err := s.Result(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accounting: %s (%d documents, %d indexed without a 202)", r.Accounting, r.Documents, r.Unaccepted)
	want := Accounting{AcceptedEvents: 10, IndexedEvents: 9, Lost: 1, Duplicated: 1, Documents: 10}
	if r.Accounting != want {
		t.Errorf("got %s (%d documents, %d unaccepted), want %s (%d documents)", r.Accounting, r.Documents, r.Unaccepted, want, want.Documents)
	}
	if r.ExactlyOnce() {
		t.Errorf("ExactlyOnce with a lost and a doubled event")
	}
}
