package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
)

func deleteAll(t *testing.T, osURL string, paths ...string) {
	t.Cleanup(func() {
		for _, p := range paths {
			req, _ := http.NewRequest(http.MethodDelete, osURL+p, nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	})
}

// TestApplyTemplatesIsIdempotent: applying twice leaves one identical
// template; a new index of the prefix gets the strict mapping.
func TestApplyTemplatesIsIdempotent(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := testenv.Name(t, "tpl")
	deleteAll(t, osURL, "/_index_template/"+prefix, "/_index_template/deadletter-"+prefix, "/"+prefix+"-2026.01.01")
	c, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		t.Fatal(err)
	}
	var first, second map[string]any
	for i, into := range []*map[string]any{&first, &second} {
		if err := ApplyTemplates(context.Background(), c, prefix); err != nil {
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
	req, _ := http.NewRequest(http.MethodPut, osURL+"/"+prefix+"-2026.01.01", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
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
}

// TestApplyTemplatesUpgradesExistingIndices: an index created under an
// older template (fewer fields) gets the new fields when the templates are
// applied, so documents carrying them are accepted the same day.
func TestApplyTemplatesUpgradesExistingIndices(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := testenv.Name(t, "upg")
	testenv.DeleteIndexData(t, osURL, prefix)
	old := `{"mappings":{"dynamic":"strict","properties":{"doc_id":{"type":"keyword"},"app_id":{"type":"keyword"},"event_id":{"type":"keyword"}}}}`
	req, _ := http.NewRequest(http.MethodPut, osURL+"/"+prefix+"-2026.11.26", strings.NewReader(old))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("create old index: %v %v", res, err)
	}
	res.Body.Close()
	c, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyTemplates(context.Background(), c, prefix); err != nil {
		t.Fatal(err)
	}
	doc := `{"doc_id":"d","app_id":"a","event_id":"e","event_name":"x","os_name":"iOS","country":"GB","metadata":{"k":"v"}}`
	req, _ = http.NewRequest(http.MethodPut, osURL+"/"+prefix+"-2026.11.26/_create/d", strings.NewReader(doc))
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("document with the new fields refused by the old index: %d %s", res.StatusCode, body)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestRetentionByIndexDate: the daily event and dead-letter indices are
// deleted by the date in their names, each kind after its own retention,
// though every one of them was created a moment ago; other indices are left
// alone, and a second pass finds nothing.
func TestRetentionByIndexDate(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := testenv.Name(t, "ret")
	c, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteIndexData(t, osURL, prefix)
	deleteAll(t, osURL, "/other-"+prefix+"-2026.01.01")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	dl := eventdoc.DeadLetterPrefix(prefix)
	expired := []string{prefix + "-2026.10.01", prefix + "-2026.10.26", dl + "-2026.11.01", dl + "-2026.11.18"}
	kept := []string{prefix + "-2026.10.28", prefix + "-2026.11.18", prefix + "-2026.11.26", dl + "-2026.11.20", dl + "-2026.11.26",
		"other-" + prefix + "-2026.01.01", dl}
	for _, n := range append(append([]string{}, expired...), kept...) {
		req, _ := http.NewRequest(http.MethodPut, osURL+"/"+n, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("create %s: %v %v", n, res, err)
		}
		res.Body.Close()
	}
	r := Retention{Events: 30 * 24 * time.Hour, DeadLetters: 7 * 24 * time.Hour}
	deleted, err := DeleteExpired(context.Background(), c, prefix, r, now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(deleted)
	want := slices.Sorted(slices.Values(expired))
	if !slices.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	for _, n := range expired {
		if code := testenv.GetJSON(t, osURL+"/"+n, nil); code != 404 {
			t.Errorf("%s still there (%d)", n, code)
		}
	}
	for _, n := range kept {
		if code := testenv.GetJSON(t, osURL+"/"+n, nil); code != 200 {
			t.Errorf("%s was deleted (%d)", n, code)
		}
	}
	if again, err := DeleteExpired(context.Background(), c, prefix, r, now); err != nil || len(again) != 0 {
		t.Fatalf("second run: %v %v", again, err)
	}
	if none, err := DeleteExpired(context.Background(), c, prefix, Retention{}, now.Add(1000*24*time.Hour)); err != nil || len(none) != 0 {
		t.Fatalf("retention 0 deleted %v (%v)", none, err)
	}
}

// TestCompactClosedDays: the index of a past day written in several
// refreshes is merged into one segment with every document kept; today's
// index (still written) and a day within the grace period are left alone,
// and a merged index is not merged again.
func TestCompactClosedDays(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := testenv.Name(t, "cmp")
	c, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteIndexData(t, osURL, prefix)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	past, today := prefix+"-2026.11.25", prefix+"-2026.11.26"
	for _, index := range []string{past, today} {
		for batch := 0; batch < 4; batch++ {
			var b strings.Builder
			for i := 0; i < 25; i++ {
				fmt.Fprintf(&b, "{\"index\":{\"_index\":%q}}\n{\"n\":%d}\n", index, batch*25+i)
			}
			res, err := http.Post(osURL+"/_bulk?refresh=true", "application/x-ndjson", strings.NewReader(b.String()))
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("bulk into %s: %v %v", index, res, err)
			}
			res.Body.Close()
		}
	}
	segments := func(index string) int {
		var rows []map[string]any
		if code := testenv.GetJSON(t, osURL+"/_cat/segments/"+index+"?format=json", &rows); code != 200 {
			t.Fatalf("segments of %s: %d", index, code)
		}
		return len(rows)
	}
	if n := segments(past); n < 2 {
		t.Fatalf("setup: %s has %d segments, want several", past, n)
	}
	// Yesterday ended 12 h before now: due with a 1 h grace,
	// not yet with a 13 h one.
	if got, err := Uncompacted(context.Background(), c, prefix, 13*time.Hour, now); err != nil || len(got) != 0 {
		t.Fatalf("within the grace period: %v %v", got, err)
	}
	merged, err := CompactClosedDays(context.Background(), c, prefix, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(merged, []string{past}) {
		t.Fatalf("merged %v, want [%s]", merged, past)
	}
	if n := segments(past); n != 1 {
		t.Errorf("%s has %d segments after the merge", past, n)
	}
	if n := segments(today); n < 2 {
		t.Errorf("today's %s was merged (%d segments)", today, n)
	}
	var count struct {
		Count int `json:"count"`
	}
	if testenv.GetJSON(t, osURL+"/"+past+"/_count", &count); count.Count != 100 {
		t.Errorf("%s holds %d documents after the merge, want 100", past, count.Count)
	}
	if again, err := CompactClosedDays(context.Background(), c, prefix, time.Hour, now); err != nil || len(again) != 0 {
		t.Fatalf("second run merged %v (%v), want nothing", again, err)
	}
}
