package pipeline

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// Documents whose index depends on the delivery (document.Doc.Lookup) are
// looked up across every event index before they are written. Three things
// keep two deliveries of one such event from both missing each other:
//   - the search over every index, which sees what the last refresh made
//     visible;
//   - real-time reads (_mget) of the indices an earlier delivery written a
//     moment ago would most likely be in (document.Doc.Recent);
//   - within this instance, locks by id around look-up and write (two
//     workers holding two deliveries at once), and a memory of where such
//     documents were written in the last recentWritesTTL (a delivery looked
//     up before a refresh shows the first, whatever its day).

// recentWritesTTL is how long the pipeline remembers where a looked-up
// document was written: well beyond OpenSearch's refresh (1 s by the
// template), after which the search sees it.
const recentWritesTTL = 30 * time.Second

// recentWrites remembers where looked-up documents were just written.
type recentWrites struct {
	mu     sync.Mutex
	index  map[string]string    // doc id → index
	at     map[string]time.Time // doc id → when
	pruned time.Time
}

// remember notes that d, if it is a looked-up document, is in d.Index now.
func (p *Pipeline) remember(d document.Doc) {
	if !d.Lookup {
		return
	}
	w := &p.recent
	now := p.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.index == nil {
		w.index, w.at = map[string]string{}, map[string]time.Time{}
	}
	w.index[d.ID], w.at[d.ID] = d.Index, now
	if now.Sub(w.pruned) > recentWritesTTL {
		for id, t := range w.at {
			if now.Sub(t) > recentWritesTTL {
				delete(w.at, id)
				delete(w.index, id)
			}
		}
		w.pruned = now
	}
}

// recalled returns where this instance wrote id within recentWritesTTL.
func (p *Pipeline) recalled(id string) (string, bool) {
	w := &p.recent
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.at[id]
	if !ok || p.now().Sub(t) > recentWritesTTL {
		return "", false
	}
	return w.index[id], true
}

// lockLookups locks the id shards of chunk's documents that are looked up
// before they are written, in order (so two workers cannot deadlock), and
// returns the function that unlocks them.
func (p *Pipeline) lockLookups(chunk []docRef) func() {
	var shards []int
	seen := map[int]bool{}
	for _, r := range chunk {
		if d := r.doc(); d.Lookup {
			h := fnv.New32a()
			_, _ = h.Write([]byte(d.ID))
			if s := int(h.Sum32() % uint32(len(p.lookups))); !seen[s] {
				seen[s] = true
				shards = append(shards, s)
			}
		}
	}
	slices.Sort(shards)
	for _, s := range shards {
		p.lookups[s].Lock()
	}
	return func() {
		for _, s := range shards {
			p.lookups[s].Unlock()
		}
	}
}

// lookUp finds the documents of chunk that must be looked up before they
// are written (document.Placement: their index depends on the delivery):
// in what this instance wrote lately, then among every event index of the
// prefix — one `ids` search, with _source off, over the prefix's pattern,
// and a real-time read of the indices an earlier delivery written a moment
// ago would most likely be in. Those found are settled as already present
// (like a 409); the rest of chunk is returned, to be sent. A chunk without
// such documents costs nothing.
func (p *Pipeline) lookUp(ctx context.Context, chunk []docRef) (rest []docRef, present int, err error) {
	found := map[string]string{}
	var refs []LocateRef
	for _, r := range chunk {
		d := r.doc()
		if !d.Lookup {
			continue
		}
		p.metrics.Lookups.Inc()
		if index, ok := p.recalled(d.ID); ok {
			found[d.ID] = index
			continue
		}
		refs = append(refs, LocateRef{ID: d.ID, Indices: d.Recent})
	}
	if len(refs) > 0 {
		located, err := p.idx.Locate(ctx, eventdoc.Pattern(p.cfg.IndexPrefix), refs)
		if err != nil {
			return chunk, 0, fmt.Errorf("look up %d documents placed by delivery: %w", len(refs), err)
		}
		maps.Copy(found, located)
	}
	if len(found) == 0 {
		return chunk, 0, nil
	}
	rest = chunk[:0:0]
	for _, r := range chunk {
		if _, ok := found[r.doc().ID]; ok && r.doc().Lookup {
			r.set(docDone, failure{})
			present++
			continue
		}
		rest = append(rest, r)
	}
	return rest, present, nil
}
