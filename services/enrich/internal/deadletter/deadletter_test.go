package deadletter_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	templatefiles "github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/deadletter"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/templates"
)

// TestReplay, against a real OpenSearch with the real templates: a dry run
// changes nothing; a replay writes the documents that are valid now under
// their ids into their daily index, counts those already there, keeps the
// ones still refused with OpenSearch's new reason, skips those past the
// retention, honours the app filter, reads the daily dead-letter indices
// and the single one of earlier versions (a document dead-lettered in both
// is written once and leaves both), counts one written since into another
// daily index as already present without writing it again, and a second
// replay does nothing new.
func TestReplay(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "dl")
	c := testenv.OpenSearch(t, osURL)
	ctx := context.Background()
	if err := templates.Apply(ctx, c, prefix, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	day, old := prefix+"-2026.11.25", prefix+"-2026.09.01"
	valid := func(id, app string) json.RawMessage {
		return json.RawMessage(`{"doc_id":"` + id + `","app_id":"` + app + `","event_id":"` + id + `","event_name":"tap","timestamp":"2026-11-25T10:00:00Z"}`)
	}
	letters := []eventdoc.DeadLetter{
		{DocID: "a-fixed", AppID: "shop", Index: day, Document: valid("a-fixed", "shop")},
		{DocID: "b-broken", AppID: "shop", Index: day, Document: json.RawMessage(`{"doc_id":"b-broken","app_id":"shop","bogus_field":1}`)},
		{DocID: "c-present", AppID: "shop", Index: day, Document: valid("c-present", "shop")},
		{DocID: "d-other-app", AppID: "news", Index: day, Document: valid("d-other-app", "news")},
		{DocID: "e-expired", AppID: "shop", Index: old, Document: valid("e-expired", "shop")},
		// Written since by a later delivery into another day's index (one
		// placed by its arrival): not written a second time.
		{DocID: "f-elsewhere", AppID: "shop", Index: day, Document: valid("f-elsewhere", "shop")},
	}
	for i := range letters {
		letters[i].Status, letters[i].ErrorType, letters[i].ErrorReason, letters[i].FailedAt = 400, "mapper_parsing_exception", "then", now.Add(-time.Hour)
	}
	idx := bulk.NewIndexer(c)
	if err := idx.DeadLetter(ctx, eventdoc.DeadLetterIndex(prefix, now.Add(-time.Hour)), letters); err != nil {
		t.Fatal(err)
	}
	// The single dead-letter index of earlier versions, created by their
	// template (same mapping, exact name).
	legacy := eventdoc.DeadLetterPrefix(prefix)
	tpl, err := templatefiles.DeadLetter(prefix)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Template json.RawMessage `json:"template"`
	}
	if err := json.Unmarshal(tpl.Body, &file); err != nil {
		t.Fatal(err)
	}
	testenv.PutJSON(t, osURL, "/"+legacy, string(file.Template))
	if err := idx.DeadLetter(ctx, legacy, letters[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Index(ctx, []document.Doc{{ID: "c-present", Index: day, Body: valid("c-present", "shop")},
		{ID: "f-elsewhere", Index: prefix + "-2026.11.26", Body: valid("f-elsewhere", "shop")}}); err != nil {
		t.Fatal(err)
	}
	refresh := func() { testenv.Refresh(t, osURL, prefix+"-*,"+eventdoc.DeadLetterPattern(prefix)+","+legacy) }
	refresh()
	r := deadletter.New(bulk.NewDeadLetters(c), prefix, 30*24*time.Hour)
	deadletter.SetClock(r, func() time.Time { return now })
	deadletter.SetPageSize(r, 2) // several pages

	rep, err := r.Replay(ctx, deadletter.Filter{AppID: "shop"}, true)
	if err != nil || rep.Matched != 6 || rep.Expired != 1 || rep.Replayed != 0 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	rep, err = r.Replay(ctx, deadletter.Filter{AppID: "shop"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := deadletter.Report{Matched: 6, Replayed: 1, AlreadyPresent: 3, StillRefused: 1, Expired: 1,
		Reasons: map[string]int{"strict_dynamic_mapping_exception": 1}}
	if g, _ := json.Marshal(rep); string(g) != string(must(json.Marshal(want))) {
		t.Fatalf("replay: %s, want %s", g, must(json.Marshal(want)))
	}
	refresh()
	var doc struct {
		Source map[string]any `json:"_source"`
	}
	if code := testenv.GetJSON(t, osURL+"/"+day+"/_doc/a-fixed", &doc); code != 200 || doc.Source["event_name"] != "tap" {
		t.Fatalf("a-fixed in %s: %d %v", day, code, doc.Source)
	}
	var left struct {
		Hits struct {
			Hits []struct {
				ID     string              `json:"_id"`
				Source eventdoc.DeadLetter `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	testenv.GetJSON(t, osURL+"/"+eventdoc.DeadLetterPattern(prefix)+","+legacy+"/_search?sort=doc_id:asc", &left)
	var ids []string
	for _, h := range left.Hits.Hits {
		ids = append(ids, h.ID)
		if h.ID == "b-broken" && (h.Source.ErrorType != "strict_dynamic_mapping_exception" || !h.Source.FailedAt.Equal(now) ||
			!strings.Contains(h.Source.ErrorReason, "bogus_field")) {
			t.Errorf("b-broken's dead letter not updated: %+v", h.Source)
		}
	}
	if strings.Join(ids, ",") != "b-broken,d-other-app,e-expired" {
		t.Fatalf("dead letters left: %v", ids)
	}
	var count struct {
		Count int `json:"count"`
	}
	if testenv.GetJSON(t, osURL+"/"+day+"/_count", &count); count.Count != 2 {
		t.Fatalf("%s holds %d documents, want 2 (a-fixed, c-present once; f-elsewhere is in another day's index)", day, count.Count)
	}
	rep, err = r.Replay(ctx, deadletter.Filter{AppID: "shop"}, false)
	if err != nil || rep.Replayed != 0 || rep.StillRefused != 1 || rep.Matched != 2 {
		t.Fatalf("second replay: %+v %v", rep, err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
