// Package compaction merges the enrich service's daily indices of days that
// are over into one segment each.
//
// A daily index keeps growing while its day lasts: a refresh every second
// leaves it with a dozen or more segments, and every search pays a terms
// lookup, a sort and a collector per segment of every daily index it
// touches. Once the day is over the index is only read (and written by a
// trickle of late events), so it is merged into one segment, which makes a
// user's history — a search over every daily index — several times cheaper.
//
// A past day's index — events or dead letters — from which documents were
// deleted (a person's erasure, a replayed dead letter) is merged again once
// the deletes can be dropped, so that their bytes leave the disk: a delete
// only marks a document, and a merged day that lost a few documents never
// meets the segment rule again.
package compaction

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
// before now and which have a primary shard that needsCompaction, or that
// holds deleted documents a merge can now drop (droppable); and, by the
// second rule only, its daily dead-letter indices. Sorted by name (each
// kind oldest first).
func Uncompacted(ctx context.Context, c *opensearch.Client, prefix string, after time.Duration, now time.Time) ([]string, error) {
	var rows []struct {
		Index   string `json:"index"`
		Shard   string `json:"shard"`
		Prirep  string `json:"prirep"`
		Docs    string `json:"docs.count"`
		Deleted string `json:"docs.deleted"`
	}
	if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodGet,
		Path: "/_cat/segments/" + eventdoc.Pattern(prefix) + "," + eventdoc.DeadLetterPattern(prefix) +
			"?format=json&h=index,shard,prirep,docs.count,docs.deleted"}, &rows); err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	shards := map[[2]string]shardSegments{}
	var withDeleted []string // indices with deleted documents in a primary shard
	for _, r := range rows {
		day, ok := eventdoc.DayOf(prefix, r.Index)
		letters := false
		if !ok {
			day, ok = eventdoc.DayOf(eventdoc.DeadLetterPrefix(prefix), r.Index)
			letters = true
		}
		if !ok || r.Prirep != "p" || now.Before(day.Add(24*time.Hour+after)) {
			continue
		}
		if r.Deleted != "" && r.Deleted != "0" && !slices.Contains(withDeleted, r.Index) {
			withDeleted = append(withDeleted, r.Index)
		}
		if letters {
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
	withDeleted = slices.DeleteFunc(withDeleted, func(index string) bool { return slices.Contains(out, index) })
	if len(withDeleted) > 0 {
		ready, err := droppable(ctx, c, withDeleted)
		if err != nil {
			return nil, err
		}
		out = append(out, ready...)
	}
	slices.Sort(out) // by name: the names end in the date
	return out, nil
}

// droppable returns those of indices whose deleted documents a merge drops
// now. A delete is a soft delete, and a merge keeps every soft-deleted
// document whose operation a retention lease of its shard still retains
// (a copy of the shard may need it to recover): on a shard whose copies
// are in step, the peer-recovery leases are renewed to the global
// checkpoint every 30 s or so; a copy that is away keeps its lease, and
// with it the deletes, for up to index.soft_deletes.retention_lease.period
// (12 h). So an index is ready once, on each primary shard, every lease
// retains nothing at or below the shard's highest sequence number: a merge
// earlier would rewrite the index and keep the deleted documents. (A merge
// also keeps deletes not yet committed: ForceMerge flushes first.)
func droppable(ctx context.Context, c *opensearch.Client, indices []string) ([]string, error) {
	var stats struct {
		Indices map[string]struct {
			Shards map[string][]struct {
				Routing struct {
					Primary bool `json:"primary"`
				} `json:"routing"`
				SeqNo struct {
					Max *int64 `json:"max_seq_no"`
				} `json:"seq_no"`
				Leases struct {
					Leases []struct {
						Retaining int64 `json:"retaining_seq_no"`
					} `json:"leases"`
				} `json:"retention_leases"`
			} `json:"shards"`
		} `json:"indices"`
	}
	path := "/" + url.PathEscape(strings.Join(indices, ",")) + "/_stats/docs?level=shards&ignore_unavailable=true&filter_path=" +
		"indices.*.shards.*.routing.primary,indices.*.shards.*.seq_no.max_seq_no,indices.*.shards.*.retention_leases.leases.retaining_seq_no"
	if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodGet, Path: path}, &stats); err != nil {
		return nil, fmt.Errorf("read retention leases: %w", err)
	}
	var out []string
	for _, index := range indices {
		st, ok := stats.Indices[index]
		ready := ok && len(st.Shards) > 0
		for _, copies := range st.Shards {
			for _, cp := range copies {
				if !cp.Routing.Primary {
					continue
				}
				if cp.SeqNo.Max == nil || len(cp.Leases.Leases) == 0 {
					ready = false // nothing says what is retained: leave it
				}
				for _, l := range cp.Leases.Leases {
					if cp.SeqNo.Max != nil && l.Retaining <= *cp.SeqNo.Max {
						ready = false
					}
				}
			}
		}
		if ready {
			out = append(out, index)
		}
	}
	return out, nil
}

// ForceMerge merges index into one segment per shard, then refreshes it so
// that searches use the merged segment and the old ones are released.
// OpenSearch answers when the merge is done (one merge at a time per node).
// It flushes first: a merge also keeps the soft-deleted documents whose
// delete is not yet in a Lucene commit (checked on OpenSearch 2.19: the
// first merge after a delete kept it, the one after the flush dropped it);
// a flush of an index with nothing new costs nothing.
func ForceMerge(ctx context.Context, c *opensearch.Client, index string) error {
	for _, op := range []string{"_flush", "_forcemerge?max_num_segments=1", "_refresh"} {
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
