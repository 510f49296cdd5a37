package compaction

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

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
