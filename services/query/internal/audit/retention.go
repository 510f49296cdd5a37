package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/periodic"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
)

// Retention deletes the daily audit indices of an events prefix once every
// entry in them is older than Keep. An index's day is read from its name
// (eventdoc.Expired), never from its creation date, and only names that
// parse exactly as this prefix's audit indices are ever deleted — no
// wildcard delete, no delete_by_query.
type Retention struct {
	Client  *opensearch.Client
	Prefix  string
	Keep    time.Duration // 0: keep for ever
	Log     *slog.Logger
	Metrics *metrics.Query // Run counts deletions and failed passes
}

// Run applies the retention at once and then every interval until ctx ends.
// A failed pass is logged, counted and retried at the next tick.
func (r Retention) Run(ctx context.Context, interval time.Duration) {
	if r.Keep <= 0 {
		return
	}
	periodic.Run(ctx, interval, func(ctx context.Context) {
		deleted, err := r.DeleteExpired(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			r.Metrics.AuditRetentionFailure.Inc()
			r.Log.WarnContext(ctx, "deleting expired audit indices failed", "error", err)
		case len(deleted) > 0:
			r.Metrics.AuditIndicesDeleted.Add(float64(len(deleted)))
			r.Log.InfoContext(ctx, "deleted expired audit indices", "indices", deleted, "retention", r.Keep.String())
		}
	})
}

// DeleteExpired deletes the audit indices whose day ended more than Keep
// before now and returns their names. Deleting is idempotent, so several
// query replicas may run it at once.
func (r Retention) DeleteExpired(ctx context.Context, now time.Time) ([]string, error) {
	if r.Keep <= 0 {
		return nil, nil
	}
	names := eventdoc.AuditPrefix(r.Prefix)
	expired, err := opensearchx.DeleteIndices(ctx, r.Client, eventdoc.Pattern(names), func(index string) bool {
		return eventdoc.Expired(names, index, r.Keep, now)
	})
	if err != nil {
		return nil, fmt.Errorf("audit retention: %w", err)
	}
	return expired, nil
}
