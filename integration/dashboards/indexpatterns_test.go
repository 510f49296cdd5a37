package dashboards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/dashboards"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
)

// indexKinds: the indices each shipped index pattern must match (by its
// id), as the platform names them for a prefix: the daily ones, and the
// single dead-letter and audit index of earlier versions, which the
// dead-letter replay and the deletion jobs still read and no retention
// deletes.
var indexKinds = map[string]func(prefix string, day time.Time) []string{
	"telemetry-events": func(p string, d time.Time) []string { return []string{eventdoc.IndexName(p, d)} },
	"telemetry-deadletters": func(p string, d time.Time) []string {
		return []string{eventdoc.DeadLetterIndex(p, d), eventdoc.DeadLetterPrefix(p)}
	},
	"telemetry-audit": func(p string, d time.Time) []string {
		return []string{eventdoc.AuditIndex(p, d), eventdoc.AuditPrefix(p)}
	},
}

// TestIndexPatternsMatchEveryIndexOfTheirKind writes one document into every
// index the platform keeps for a prefix — daily event, dead-letter and audit
// indices of two days, the single dead-letter and audit index of earlier
// versions, the deletion jobs index — and counts, through each index
// pattern (rewritten for the prefix, searched as Dashboards searches: with
// ignore_unavailable), the documents it sees: those of its own kind, all of
// them, and nothing else.
func TestIndexPatternsMatchEveryIndexOfTheirKind(t *testing.T) {
	osURL, prefix := testenv.Indices(t, "dashidx")
	bodies := map[string][]byte{}
	for id, build := range map[string]func(string) (templates.Template, error){
		"telemetry-events": templates.Events, "telemetry-deadletters": templates.DeadLetter, "telemetry-audit": templates.Audit,
	} {
		tpl, err := build(prefix)
		if err != nil {
			t.Fatal(err)
		}
		testenv.Do(t, osURL, http.MethodPut, "/_index_template/"+tpl.Name, string(tpl.Body))
		bodies[id] = tpl.Body
	}
	docs := map[string]func(n int, at time.Time) any{
		"telemetry-events": func(n int, at time.Time) any {
			id := fmt.Sprintf("e%d", n)
			return eventdoc.Source{DocID: eventdoc.ID("shop", id), AppID: "shop", EventID: id, EventName: "app_open",
				Timestamp: at, ClientTimestamp: at, ReceivedAt: at, IngestedAt: at}
		},
		"telemetry-deadletters": func(n int, at time.Time) any {
			id := fmt.Sprintf("x%d", n)
			return eventdoc.DeadLetter{DocID: eventdoc.ID("shop", id), AppID: "shop", EventID: id, Index: eventdoc.IndexName(prefix, at),
				Status: 400, ErrorType: "mapper_parsing_exception", ErrorReason: "refused", FailedAt: at}
		},
		"telemetry-audit": func(n int, at time.Time) any {
			return map[string]any{"time": at, "principal": "support", "method": "SearchEvents", "transport": "grpc",
				"results": 1, "status": "OK", "duration_ms": 1.5, "trace_id": fmt.Sprintf("t%d", n)}
		},
	}
	// Every index of each kind, once, with the first day each was written.
	indices := map[string][]string{}
	firstDay := map[string]time.Time{}
	for id, names := range indexKinds {
		for _, day := range []time.Time{d1, d2} {
			for _, index := range names(prefix, day) {
				if _, seen := firstDay[index]; !seen {
					firstDay[index] = day
					indices[id] = append(indices[id], index)
				}
			}
		}
	}
	var bulk opensearchx.BulkBody
	n := 0
	for id, names := range indices {
		for _, index := range names {
			if index == eventdoc.DeadLetterPrefix(prefix) || index == eventdoc.AuditPrefix(prefix) {
				// A single index of earlier versions: no template matches it
				// any more, so it has the mapping it was created with.
				var tpl struct {
					Template struct {
						Mappings json.RawMessage `json:"mappings"`
					} `json:"template"`
				}
				if err := json.Unmarshal(bodies[id], &tpl); err != nil {
					t.Fatal(err)
				}
				testenv.Do(t, osURL, http.MethodPut, "/"+index, fmt.Sprintf(`{"mappings":%s}`, tpl.Template.Mappings))
			}
			n++
			b, err := json.Marshal(docs[id](n, firstDay[index].Add(10*time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			bulk.Create(index, fmt.Sprint(n), b)
		}
	}
	// Not an index of any pattern: the query service's deletion jobs.
	bulk.Create("deletions-"+prefix, "job-1", []byte(`{"job_id":"job-1","state":"pending"}`))
	testenv.Bulk(t, osURL, &bulk)
	testenv.Refresh(t, osURL, "*"+prefix+"*")

	set, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	patterns := set.OfType(dashboards.TypeIndexPattern)
	if len(patterns) != len(indexKinds) {
		t.Errorf("%d index patterns, %d kinds of index: give every index pattern its kind in indexKinds", len(patterns), len(indexKinds))
	}
	for _, o := range patterns {
		t.Run(o.ID, func(t *testing.T) {
			if _, ok := indexKinds[o.ID]; !ok {
				t.Fatalf("index pattern %s (%s) has no kind of index in indexKinds", o.ID, o.Title())
			}
			title := dashboards.PatternFor(o.Title(), prefix)
			var res struct {
				Count int `json:"count"`
			}
			out := testenv.Do(t, osURL, http.MethodGet, "/"+title+"/_count?ignore_unavailable=true", "")
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if want := len(indices[o.ID]); res.Count != want {
				t.Errorf("index pattern %q (for prefix %s: %q) sees %d documents, want %d: one in each of %v",
					o.Title(), prefix, title, res.Count, want, indices[o.ID])
			}
		})
	}
}
