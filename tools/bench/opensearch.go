package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/evtrack/telemetry/platform/opensearchx"
)

// osTimeout bounds one request to the bench's OpenSearch, as r.http bounds
// the bench's other requests.
const osTimeout = time.Minute

// osJSON sends one request to the bench's OpenSearch and decodes a 2xx
// answer into out (nil: the answer is dropped); any other answer is an
// error (opensearchx.DoJSON).
func (r *runner) osJSON(ctx context.Context, method, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, osTimeout)
	defer cancel()
	return opensearchx.DoJSON(ctx, r.osc, opensearchx.Request{Method: method, Path: path}, out)
}

// count is the number of documents in the indices of prefix.
func (r *runner) count(ctx context.Context, prefix string) (int64, error) {
	var c struct {
		Count int64 `json:"count"`
	}
	if err := r.osJSON(ctx, http.MethodGet, "/"+prefix+"-*/_count?allow_no_indices=true", &c); err != nil {
		return 0, err
	}
	return c.Count, nil
}

// deletePrefix removes every index and template written under prefix.
func (r *runner) deletePrefix(ctx context.Context, prefix string) error {
	if err := opensearchx.DeletePrefix(ctx, r.http, r.openSearch.URL, prefix); err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	return nil
}

// merges is what OpenSearch is merging: segment merges running, and force
// merges (enrich's compaction) still in its task list.
type merges struct{ running, forceMerges int }

func (m merges) idle() bool { return m.running == 0 && m.forceMerges == 0 }

func (r *runner) merges(ctx context.Context) (merges, error) {
	var stats struct {
		Nodes map[string]struct {
			Indices struct {
				Merges struct {
					Current int `json:"current"`
				} `json:"merges"`
			} `json:"indices"`
		} `json:"nodes"`
	}
	if err := r.osJSON(ctx, http.MethodGet, "/_nodes/stats/indices/merge", &stats); err != nil {
		return merges{}, err
	}
	var tasks struct {
		Nodes map[string]struct {
			Tasks map[string]any `json:"tasks"`
		} `json:"nodes"`
	}
	if err := r.osJSON(ctx, http.MethodGet, "/_tasks?actions=indices:admin/forcemerge*", &tasks); err != nil {
		return merges{}, err
	}
	var m merges
	for _, n := range stats.Nodes {
		m.running += n.Indices.Merges.Current
	}
	for _, n := range tasks.Nodes {
		m.forceMerges += len(n.Tasks)
	}
	return m, nil
}

// waitNoMerges waits until OpenSearch merges nothing, so that what is
// measured next is not sharing the machine with a merge. It fails after
// MergesWithin, saying what was still running.
func (r *runner) waitNoMerges(ctx context.Context, what string) error {
	deadline := time.Now().Add(r.cfg.MergesWithin)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for first := true; ; first = false {
		m, err := r.merges(ctx)
		if err != nil {
			return fmt.Errorf("before %s: %w", what, err)
		}
		if m.idle() {
			return nil
		}
		if first {
			r.logf("waiting for OpenSearch's merges to end before %s (%d merges, %d force merges)", what, m.running, m.forceMerges)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("before %s: OpenSearch still merging after %s (%d merges, %d force merges running)", what, r.cfg.MergesWithin, m.running, m.forceMerges)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// dayIndex is the daily index of prefix for t (UTC), as enrich names it.
func dayIndex(prefix string, t time.Time) string {
	return prefix + "-" + t.UTC().Format("2006.01.02")
}

// storeSize merges the indices of prefix into one segment each, as enrich's
// maintenance merges the past days, and returns their documents and the
// bytes those segments take on disk (primaries: one copy). It reads the
// segments, not the index's store size: the store also counts the files of
// the commit before the merge, which OpenSearch keeps until its next
// global-checkpoint sync (up to half a minute or more later) — twice the size
// for a while, read as such by an earlier version of this function.
func (r *runner) storeSize(ctx context.Context, prefix string) (docs, bytes int64, err error) {
	mctx, cancel := context.WithTimeout(ctx, r.cfg.MergesWithin) // a merge takes longer than other requests
	err = opensearchx.DoJSON(mctx, r.osc, opensearchx.Request{Method: http.MethodPost, Path: "/" + prefix + "-*/_forcemerge?max_num_segments=1"}, nil)
	cancel()
	if err != nil {
		return 0, 0, fmt.Errorf("merge %s: %w", prefix, err)
	}
	if err := r.waitNoMerges(ctx, "the size on disk"); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(r.cfg.MergesWithin)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var rows []segmentRow
		if err := r.osJSON(ctx, http.MethodGet, "/_cat/segments/"+prefix+"-*?format=json&bytes=b&h=index,shard,prirep,docs.count,size", &rows); err != nil {
			return 0, 0, fmt.Errorf("size of %s: %w", prefix, err)
		}
		docs, bytes, merged := primarySegments(rows)
		if merged {
			return docs, bytes, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("size of %s: not one segment a shard after %s (%d bytes, %d documents)", prefix, r.cfg.MergesWithin, bytes, docs)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-tick.C:
		}
	}
}

// segmentRow is a line of _cat/segments (format=json, bytes=b).
type segmentRow struct {
	Index   string `json:"index"`
	Shard   string `json:"shard"`
	Primary string `json:"prirep"`
	Docs    string `json:"docs.count"`
	Size    string `json:"size"`
}

// primarySegments adds up the documents and bytes of the primaries'
// segments; merged reports one segment for every primary shard.
func primarySegments(rows []segmentRow) (docs, bytes int64, merged bool) {
	perShard := map[string]int{}
	for _, row := range rows {
		if row.Primary != "p" {
			continue
		}
		d, _ := strconv.ParseInt(row.Docs, 10, 64)
		b, _ := strconv.ParseInt(row.Size, 10, 64)
		docs, bytes = docs+d, bytes+b
		perShard[row.Index+"/"+row.Shard]++
	}
	merged = len(perShard) > 0
	for _, n := range perShard {
		merged = merged && n == 1
	}
	return docs, bytes, merged
}
