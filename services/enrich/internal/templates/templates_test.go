package templates

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestApplyIsIdempotent: applying twice leaves one identical template; a
// new index of the prefix gets the strict mapping and the replica count
// asked for (OPENSEARCH_INDEX_REPLICAS).
func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "tpl")
	c := testenv.OpenSearch(t, osURL)
	var first, second map[string]any
	for i, into := range []*map[string]any{&first, &second} {
		if err := Apply(context.Background(), c, prefix, 1); err != nil {
			t.Fatalf("apply #%d: %v", i+1, err)
		}
		if code := testenv.GetJSON(t, osURL+"/_index_template/"+prefix, into); code != 200 {
			t.Fatalf("template missing after apply #%d: %d", i+1, code)
		}
	}
	if !jsonEqual(first, second) {
		t.Fatalf("template changed on re-apply:\n%v\n%v", first, second)
	}
	if code := testenv.GetJSON(t, osURL+"/_index_template/deadletter-"+prefix, nil); code != 200 {
		t.Fatalf("dead-letter template missing: %d", code)
	}
	testenv.PutJSON(t, osURL, "/"+prefix+"-2026.01.01", "")
	var mapping map[string]struct {
		Mappings struct {
			Dynamic    string         `json:"dynamic"`
			Properties map[string]any `json:"properties"`
		} `json:"mappings"`
	}
	testenv.GetJSON(t, osURL+"/"+prefix+"-2026.01.01/_mapping", &mapping)
	m := mapping[prefix+"-2026.01.01"].Mappings
	if m.Dynamic != "strict" || m.Properties["metadata"] == nil {
		t.Fatalf("new index did not get the template: %+v", m)
	}
	if got := testenv.IndexReplicas(t, osURL, prefix+"-2026.01.01"); got != "1" {
		t.Fatalf("new index has %q replicas, want the 1 applied", got)
	}
	// The space-saving choices declared in event.proto (sort_only,
	// search_only, text without norms) reach a new index.
	for field, want := range map[string]string{"doc_id": `"index":false`, "user_agent": `"doc_values":false`, "message": `"norms":false`} {
		if b, _ := json.Marshal(m.Properties[field]); !strings.Contains(string(b), want) {
			t.Errorf("new index maps %s as %s, want %s", field, b, want)
		}
	}
}

// TestApplyUpgradesExistingIndices: an index created under an older
// template (fewer fields, and doc_id and message mapped as they were before
// the space-saving choices) gets the new fields when the templates are
// applied, so documents carrying them are accepted the same day; its
// existing fields keep their mapping (OpenSearch refuses to change them) and
// the apply does not fail on them.
func TestApplyUpgradesExistingIndices(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "upg")
	testenv.PutJSON(t, osURL, "/"+prefix+"-2026.11.26",
		`{"mappings":{"dynamic":"strict","properties":{"doc_id":{"type":"keyword"},"app_id":{"type":"keyword"},"event_id":{"type":"keyword"},"message":{"type":"text"}}}}`)
	if err := Apply(context.Background(), testenv.OpenSearch(t, osURL), prefix, 0); err != nil {
		t.Fatal(err)
	}
	var mapping map[string]struct {
		Mappings struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"mappings"`
	}
	testenv.GetJSON(t, osURL+"/"+prefix+"-2026.11.26/_mapping", &mapping)
	if p := mapping[prefix+"-2026.11.26"].Mappings.Properties; p["doc_id"]["index"] != nil || p["message"]["norms"] != nil || p["os_name"] == nil {
		t.Fatalf("old index after apply: doc_id %v, message %v, os_name %v", p["doc_id"], p["message"], p["os_name"])
	}
	// Do fails the test, with OpenSearch's answer, unless it is a 2xx.
	out := testenv.Do(t, osURL, http.MethodPut, "/"+prefix+"-2026.11.26/_create/d",
		`{"doc_id":"d","app_id":"a","event_id":"e","event_name":"x","os_name":"iOS","country":"GB","metadata":{"k":"v"}}`)
	if !strings.Contains(string(out), `"result":"created"`) {
		t.Fatalf("document with the new fields not created by the old index: %s", out)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestDatesAsWritten: the dates enrich writes — epoch milliseconds with the
// nanoseconds as a fraction, RFC 3339 before 1970-01-01T00:00:10Z — and the RFC 3339 dates
// of documents written before are each indexed as the millisecond they fall
// in, by the events template's date format, and a document reads back whole.
func TestDatesAsWritten(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "dates")
	if err := Apply(context.Background(), testenv.OpenSearch(t, osURL), prefix, 0); err != nil {
		t.Fatal(err)
	}
	index := prefix + "-2026.11.26"
	for _, tc := range []struct {
		id   string
		at   time.Time
		old  bool // written as before: RFC 3339
		want string
	}{
		{"whole-ms", time.Date(2026, 11, 26, 10, 0, 0, 123_000_000, time.UTC), false, "1795687200123"},
		{"fraction", time.Date(2026, 11, 26, 10, 0, 0, 123_456_789, time.UTC), false, "1795687200123"},
		{"last-ns", time.Date(2026, 11, 26, 10, 0, 0, 999_999_999, time.UTC), false, "1795687200999"},
		{"epoch", time.Unix(0, 1).UTC(), false, "0"},
		// Whole milliseconds of four digits, which the format's first
		// parser would take for a year if they were written as numbers.
		{"five-seconds", time.Unix(5, 0).UTC(), false, "5000"},
		{"ten-seconds-less-1ms", time.Unix(9, 999_000_000).UTC(), false, "9999"},
		{"ten-seconds", time.Unix(10, 0).UTC(), false, "10000"},
		{"before-1970", time.Date(1969, 12, 31, 23, 59, 59, 999_500_000, time.UTC), false, "-1"},
		{"rfc3339", time.Date(2026, 11, 26, 10, 0, 0, 123_456_789, time.UTC), true, "1795687200123"},
	} {
		src := eventdoc.Source{DocID: tc.id, AppID: "a", EventID: tc.id, EventName: "x",
			Timestamp: tc.at, ClientTimestamp: tc.at, ReceivedAt: tc.at, IngestedAt: tc.at, SentAt: &tc.at}
		body := src.AppendJSON(nil)
		if tc.old {
			at := `"` + tc.at.Format(time.RFC3339Nano) + `"`
			body = []byte(`{"doc_id":"` + tc.id + `","app_id":"a","event_id":"` + tc.id + `","event_name":"x","timestamp":` + at +
				`,"client_timestamp":` + at + `,"received_at":` + at + `,"ingested_at":` + at + `,"sent_at":` + at + `}`)
		}
		testenv.Do(t, osURL, http.MethodPut, "/"+index+"/_create/"+tc.id+"?refresh=true", string(body))
		var res struct {
			Hits struct {
				Hits []struct {
					Source eventdoc.Source     `json:"_source"`
					Fields map[string][]string `json:"fields"`
				} `json:"hits"`
			} `json:"hits"`
		}
		docFields := []string{"timestamp", "client_timestamp", "received_at", "ingested_at", "sent_at"}
		asMillis := make([]string, len(docFields))
		for i, f := range docFields {
			asMillis[i] = `{"field":"` + f + `","format":"epoch_millis"}`
		}
		q := `{"query":{"ids":{"values":["` + tc.id + `"]}},"docvalue_fields":[` + strings.Join(asMillis, ",") + `]}`
		if err := json.Unmarshal(testenv.Do(t, osURL, http.MethodPost, "/"+index+"/_search", q), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Hits.Hits) != 1 {
			t.Fatalf("%s: %d hits", tc.id, len(res.Hits.Hits))
		}
		hit := res.Hits.Hits[0]
		for _, f := range docFields {
			if got := hit.Fields[f]; len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s (%s): %s indexed as %v, want %s", tc.id, body, f, got, tc.want)
			}
		}
		if !hit.Source.ClientTimestamp.Equal(tc.at) || hit.Source.SentAt == nil || !hit.Source.SentAt.Equal(tc.at) {
			t.Errorf("%s: read back client_timestamp %v, sent_at %v; want %v", tc.id, hit.Source.ClientTimestamp, hit.Source.SentAt, tc.at)
		}
	}
	// A range from a whole millisecond finds the documents of that
	// millisecond and later, fraction or not.
	var count struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(testenv.Do(t, osURL, http.MethodPost, "/"+index+"/_count",
		`{"query":{"range":{"client_timestamp":{"gte":1795687200123,"format":"epoch_millis"}}}}`), &count); err != nil || count.Count != 4 {
		t.Fatalf("range from 10:00:00.123: %d documents (%v), want 4", count.Count, err)
	}
}
