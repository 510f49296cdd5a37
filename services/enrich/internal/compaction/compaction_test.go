package compaction

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
)

func TestNeedsCompaction(t *testing.T) {
	for _, tc := range []struct {
		name string
		docs shardSegments
		want bool
	}{
		{"empty shard", nil, false},
		{"one segment", shardSegments{1000}, false},
		{"a day's refreshes", shardSegments{400, 300, 200, 100}, true},
		{"merged, then a few late events", shardSegments{10000, 12, 3}, false},
		{"merged, then many late events", shardSegments{10000, 900, 300}, true},
		{"many small late segments", shardSegments{100000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, true},
		{"ten segments, one holding 90%", shardSegments{9000, 200, 200, 100, 100, 100, 100, 100, 50, 50}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.docs.needsCompaction(); got != tc.want {
				t.Fatalf("needsCompaction(%v) = %v, want %v", tc.docs, got, tc.want)
			}
		})
	}
}

// TestMergeClosedDays: the index of a past day written in several
// refreshes is merged into one segment with every document kept; today's
// index (still written) and a day within the grace period are left alone,
// and a merged index is not merged again.
func TestMergeClosedDays(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "cmp")
	c := testenv.OpenSearch(t, osURL)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	past, today := prefix+"-2026.11.25", prefix+"-2026.11.26"
	for _, index := range []string{past, today} {
		for batch := 0; batch < 4; batch++ {
			var body opensearchx.BulkBody
			for i := 0; i < 25; i++ {
				doc, _ := json.Marshal(map[string]int{"n": batch*25 + i})
				body.Index(index, "", doc)
			}
			testenv.Bulk(t, osURL, &body)
			testenv.Refresh(t, osURL, index) // a segment per batch
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
	merged, err := MergeClosedDays(context.Background(), c, prefix, time.Hour, now)
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
	if n := testenv.Count(t, osURL, past); n != 100 {
		t.Errorf("%s holds %d documents after the merge, want 100", past, n)
	}
	if again, err := MergeClosedDays(context.Background(), c, prefix, time.Hour, now); err != nil || len(again) != 0 {
		t.Fatalf("second run merged %v (%v), want nothing", again, err)
	}
}

// TestMergeClosedDaysDropsDeletedDocuments: a deletion (a person's erasure)
// deletes documents from past days' indices, which compaction merged into
// one segment each. A delete only marks a document: its bytes stay in the
// segment until the segment is rewritten, and a merged day that lost a few
// documents never meets the compaction rule again (one segment, holding
// all its documents). Once the shard's retention leases have moved past
// the deletes (soft deletes are kept for them: a merge before that keeps
// the deleted documents), the day must be merged again, without them.
// Before, it was left as it was, the deleted documents on disk until
// retention deleted the whole index.
func TestMergeClosedDaysDropsDeletedDocuments(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "cmpd")
	c := testenv.OpenSearch(t, osURL)
	now := time.Now().UTC()
	past := eventdoc.IndexName(prefix, now.Add(-48*time.Hour))
	for batch := range 4 {
		var body opensearchx.BulkBody
		for i := range 25 {
			doc, _ := json.Marshal(map[string]int{"n": batch*25 + i})
			body.Index(past, fmt.Sprintf("d-%d", batch*25+i), doc)
		}
		testenv.Bulk(t, osURL, &body)
		testenv.Refresh(t, osURL, past)
	}
	ctx := context.Background()
	if merged, err := MergeClosedDays(ctx, c, prefix, time.Hour, now); err != nil || !slices.Equal(merged, []string{past}) {
		t.Fatalf("setup: compaction merged %v (%v), want [%s]", merged, err, past)
	}
	// The day's dead letters: never compacted, deleted from all the same.
	letters := eventdoc.DeadLetterIndex(prefix, now.Add(-48*time.Hour))
	var dl opensearchx.BulkBody
	for i := range 20 {
		doc, _ := json.Marshal(map[string]int{"n": i})
		dl.Index(letters, fmt.Sprintf("l-%d", i), doc)
	}
	testenv.Bulk(t, osURL, &dl)
	testenv.Refresh(t, osURL, letters)
	// A person's three events and a letter deleted, as a deletion job does.
	var body opensearchx.BulkBody
	for _, id := range []string{"d-3", "d-40", "d-77"} {
		body.Delete(past, id)
	}
	body.Delete(letters, "l-7")
	testenv.Bulk(t, osURL, &body)
	testenv.Refresh(t, osURL, past+","+letters)
	for index, want := range map[string]int{past: 97, letters: 19} {
		if live, gone := docs(t, osURL, index); live != want || gone == 0 {
			t.Fatalf("after the deletes: %s has %d live, %d deleted documents on disk; want %d and some", index, live, gone, want)
		}
	}
	testenv.EventuallyState(t, 2*time.Minute, "the deleted documents dropped from disk by compaction", func() (bool, string) {
		merged, err := MergeClosedDays(ctx, c, prefix, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		done, state := true, fmt.Sprintf("merged %v", merged)
		for index, want := range map[string]int{past: 97, letters: 19} {
			live, gone := docs(t, osURL, index)
			if slices.Contains(merged, index) && gone != 0 {
				t.Fatalf("merged %s while its leases kept the deleted documents (%d still on disk): a rewrite for nothing", index, gone)
			}
			done = done && gone == 0 && live == want
			state += fmt.Sprintf("; %s: %d live, %d deleted", index, live, gone)
		}
		return done, state
	})
}

// docs returns how many live and deleted documents index holds on disk.
func docs(t *testing.T, osURL, index string) (live, deleted int) {
	t.Helper()
	var rows []struct {
		Count   string `json:"docs.count"`
		Deleted string `json:"docs.deleted"`
	}
	if code := testenv.GetJSON(t, osURL+"/_cat/indices/"+index+"?format=json&h=docs.count,docs.deleted", &rows); code != 200 || len(rows) != 1 {
		t.Fatalf("docs of %s: %d %v", index, code, rows)
	}
	live, _ = strconv.Atoi(rows[0].Count)
	deleted, _ = strconv.Atoi(rows[0].Deleted)
	return live, deleted
}
