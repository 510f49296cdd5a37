package audit

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestRetentionDeletesExpiredAuditIndices runs the retention pass against
// the real OpenSearch: the audit index of a day that ended more than the
// retention ago is deleted; the day still partly within it, a recent day,
// another prefix's audit index, an event index and the single audit index of
// earlier versions are kept.
func TestRetentionDeletesExpiredAuditIndices(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "audret")
	client := testenv.OpenSearch(t, osURL)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	keep := 30 * 24 * time.Hour // cutoff 2026-05-16 12:00
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	expired := []string{eventdoc.AuditIndex(prefix, day(2026, 5, 15)), eventdoc.AuditIndex(prefix, day(2025, 12, 31))}
	kept := []string{
		eventdoc.AuditIndex(prefix, day(2026, 5, 16)), // its last 12 hours are within the retention
		eventdoc.AuditIndex(prefix, day(2026, 6, 15)),
		eventdoc.AuditIndex(prefix+"-x", day(2025, 12, 31)), // prefix-x's audit index matches audit-prefix-*
		eventdoc.IndexName(prefix, day(2025, 12, 31)),
		"audit-" + prefix,
	}
	for _, index := range append(slices.Clone(expired), kept...) {
		testenv.PutJSON(t, osURL, "/"+index, "")
	}

	r := Retention{Client: client, Prefix: prefix, Keep: 0, Log: slog.New(slog.DiscardHandler)}
	if got, err := r.DeleteExpired(context.Background(), now); err != nil || got != nil {
		t.Fatalf("retention 0 (keep for ever) deleted %v, %v", got, err)
	}
	r.Keep = keep
	got, err := r.DeleteExpired(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(expired)
	if !slices.Equal(got, expired) {
		t.Errorf("deleted %v, want %v", got, expired)
	}
	for _, index := range expired {
		if testenv.Exists(t, osURL, "/"+index) {
			t.Errorf("%s still exists", index)
		}
	}
	for _, index := range kept {
		if !testenv.Exists(t, osURL, "/"+index) {
			t.Errorf("%s was deleted", index)
		}
	}
	if got, err := r.DeleteExpired(context.Background(), now); err != nil || got != nil {
		t.Fatalf("second pass: %v, %v", got, err)
	}
}
