package retention

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestDeleteExpiredByIndexDate: the daily event and dead-letter indices are
// deleted by the date in their names, each kind after its own retention,
// though every one of them was created a moment ago; other indices are left
// alone, and a second pass finds nothing.
func TestDeleteExpiredByIndexDate(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "ret")
	c := testenv.OpenSearch(t, osURL)
	testenv.DeleteOnCleanup(t, osURL, "/other-"+prefix+"-2026.01.01")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	dl := eventdoc.DeadLetterPrefix(prefix)
	expired := []string{prefix + "-2026.10.01", prefix + "-2026.10.26", dl + "-2026.11.01", dl + "-2026.11.18"}
	kept := []string{prefix + "-2026.10.28", prefix + "-2026.11.18", prefix + "-2026.11.26", dl + "-2026.11.20", dl + "-2026.11.26",
		"other-" + prefix + "-2026.01.01", dl}
	for _, n := range append(append([]string{}, expired...), kept...) {
		testenv.PutJSON(t, osURL, "/"+n, "")
	}
	p := Policy{Events: 30 * 24 * time.Hour, DeadLetters: 7 * 24 * time.Hour}
	deleted, err := DeleteExpired(context.Background(), c, prefix, p, now)
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
	if again, err := DeleteExpired(context.Background(), c, prefix, p, now); err != nil || len(again) != 0 {
		t.Fatalf("second run: %v %v", again, err)
	}
	if none, err := DeleteExpired(context.Background(), c, prefix, Policy{}, now.Add(1000*24*time.Hour)); err != nil || len(none) != 0 {
		t.Fatalf("retention 0 deleted %v (%v)", none, err)
	}
}
