// Package compaction merges the enrich service's daily indices of days that
// are over into one segment each.
//
// A daily index keeps growing while its day lasts: a refresh every second
// leaves it with a dozen or more segments, and every search pays a terms
// lookup, a sort and a collector per segment of every daily index it
// touches. Once the day is over the index is only read (and written by a
// trickle of late events), so it is merged into one segment, which makes a
// user's history — a search over every daily index — several times cheaper.
package compaction

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
)

// Compaction thresholds for a shard of a closed day: it is merged when it
// has more than maxSegments segments, or when its largest segment holds
// less than largestShare of its documents (late events arrived after the
// last merge). A shard merged before and touched by a few late events is
// left alone, so a large index is not rewritten for every straggler.
const (
	maxSegments  = 10
	largestShare = 0.9
)

// shardSegments are the document counts of one shard copy's segments.
type shardSegments []int64

// needsCompaction reports whether a shard of a closed day should be merged.
func (s shardSegments) needsCompaction() bool {
	if len(s) <= 1 {
		return false
	}
	if len(s) > maxSegments {
		return true
	}
	var total, largest int64
	for _, d := range s {
		total += d
		largest = max(largest, d)
	}
	return float64(largest) < largestShare*float64(total)
}

// Uncompacted returns prefix's daily indices whose day ended at least after
// before now and which have a primary shard that needsCompaction, oldest
// first.
func Uncompacted(ctx context.Context, c *opensearch.Client, prefix string, after time.Duration, now time.Time) ([]string, error) {
	var rows []struct {
		Index  string `json:"index"`
		Shard  string `json:"shard"`
		Prirep string `json:"prirep"`
		Docs   string `json:"docs.count"`
	}
	if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodGet,
		Path: "/_cat/segments/" + eventdoc.Pattern(prefix) + "?format=json&h=index,shard,prirep,docs.count"}, &rows); err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	shards := map[[2]string]shardSegments{}
	for _, r := range rows {
		day, ok := eventdoc.DayOf(prefix, r.Index)
		if !ok || r.Prirep != "p" || now.Before(day.Add(24*time.Hour+after)) {
			continue
		}
		docs, err := strconv.ParseInt(r.Docs, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list segments: docs.count %q of %s: %w", r.Docs, r.Index, err)
		}
		k := [2]string{r.Index, r.Shard}
		shards[k] = append(shards[k], docs)
	}
	var out []string
	for k, s := range shards {
		if s.needsCompaction() && !slices.Contains(out, k[0]) {
			out = append(out, k[0])
		}
	}
	slices.Sort(out) // the names end in the date
	return out, nil
}

// ForceMerge merges index into one segment per shard, then refreshes it so
// that searches use the merged segment and the old ones are released.
// OpenSearch answers when the merge is done (one merge at a time per node).
func ForceMerge(ctx context.Context, c *opensearch.Client, index string) error {
	for _, op := range []string{"_forcemerge?max_num_segments=1", "_refresh"} {
		if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodPost, Path: "/" + url.PathEscape(index) + "/" + op}, nil); err != nil {
			return fmt.Errorf("%s %s: %w", op, index, err)
		}
	}
	return nil
}

// MergeClosedDays merges, one after the other, the Uncompacted indices of
// prefix and returns those it merged. Merging is idempotent, so several
// enrich instances may run it.
func MergeClosedDays(ctx context.Context, c *opensearch.Client, prefix string, after time.Duration, now time.Time) ([]string, error) {
	indices, err := Uncompacted(ctx, c, prefix, after, now)
	if err != nil {
		return nil, err
	}
	for i, index := range indices {
		if err := ForceMerge(ctx, c, index); err != nil {
			return indices[:i], err
		}
	}
	return indices, nil
}
