// Package retention deletes the enrich service's daily indices once their
// day is past its retention (OpenSearch 2.19 here has no ISM): the event
// indices and the dead-letter indices, each kind after its own period.
package retention

import (
	"context"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
)

// Policy is how long each kind of daily index of a prefix is kept,
// counted from the end of the day in its name (0: for ever).
type Policy struct {
	Events      time.Duration // prefix-YYYY.MM.DD
	DeadLetters time.Duration // deadletter-prefix-YYYY.MM.DD
}

// DeleteExpired deletes prefix's daily event and dead-letter indices whose
// day, read from the index name, ended more than their retention before
// now, and returns their names. The name is the authority, not the index's
// creation date: a past day's index created late (a late event, a dead
// letter replayed) goes when its day is due. Deleting is idempotent, so
// several enrich instances may run it.
func DeleteExpired(ctx context.Context, c *opensearch.Client, prefix string, p Policy, now time.Time) ([]string, error) {
	var deleted []string
	for _, kind := range []struct {
		names     string
		retention time.Duration
	}{{prefix, p.Events}, {eventdoc.DeadLetterPrefix(prefix), p.DeadLetters}} {
		if kind.retention <= 0 {
			continue
		}
		d, err := deleteExpired(ctx, c, kind.names, kind.retention, now)
		deleted = append(deleted, d...)
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// deleteExpired deletes the indices names-YYYY.MM.DD whose day ended more
// than retention before now (eventdoc.Expired).
func deleteExpired(ctx context.Context, c *opensearch.Client, names string, retention time.Duration, now time.Time) ([]string, error) {
	return opensearchx.DeleteIndices(ctx, c, eventdoc.Pattern(names), func(index string) bool {
		return eventdoc.Expired(names, index, retention, now)
	})
}
