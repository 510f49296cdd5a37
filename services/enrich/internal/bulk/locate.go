package bulk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// locateIDsPerSearch bounds the ids of one `ids` query.
const locateIDsPerSearch = 2000

// Locate finds which of refs are already written, and where. Each ref's
// Indices are read with _mget, which is real time (it sees a document
// written a moment ago, before any refresh); when pattern is not empty,
// every index matching it is searched with one `ids` query per
// locateIDsPerSearch ids (_source off), which sees what the last refresh
// made visible (a second, at most, behind). It returns the index of every id
// found. A missing index is not an error: nothing is in it.
func (b *Indexer) Locate(ctx context.Context, pattern string, refs []pipeline.LocateRef) (map[string]string, error) {
	found := map[string]string{}
	if err := b.mget(ctx, refs, found); err != nil {
		return nil, err
	}
	if pattern == "" {
		return found, nil
	}
	var ids []string
	for _, r := range refs {
		if _, ok := found[r.ID]; !ok {
			ids = append(ids, r.ID)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), locateIDsPerSearch)
		if err := b.searchIDs(ctx, pattern, ids[:n], found); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return found, nil
}

func (b *Indexer) mget(ctx context.Context, refs []pipeline.LocateRef, found map[string]string) error {
	type doc struct {
		Index  string `json:"_index"`
		ID     string `json:"_id"`
		Source bool   `json:"_source"`
	}
	var req struct {
		Docs []doc `json:"docs"`
	}
	for _, r := range refs {
		for _, index := range r.Indices {
			req.Docs = append(req.Docs, doc{Index: index, ID: r.ID})
		}
	}
	if len(req.Docs) == 0 {
		return nil
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var out struct {
		Docs []struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
			Found bool   `json:"found"`
		} `json:"docs"`
	}
	if err := opensearchx.DoJSON(ctx, b.client, opensearchx.Request{Method: http.MethodPost,
		Path: "/_mget?filter_path=docs._index,docs._id,docs.found", Body: body}, &out); err != nil {
		return fmt.Errorf("look up %d documents: %w", len(req.Docs), requestError(err))
	}
	for _, d := range out.Docs {
		if d.Found {
			found[d.ID] = d.Index
		}
	}
	return nil
}

func (b *Indexer) searchIDs(ctx context.Context, pattern string, ids []string, found map[string]string) error {
	body, err := json.Marshal(map[string]any{
		// A copy in more than one index (written before this lookup
		// existed) takes more than one hit: leave room for some.
		"size": min(3*len(ids), 10000), "_source": false, "track_total_hits": false,
		"query": map[string]any{"ids": map[string]any{"values": ids}},
	})
	if err != nil {
		return err
	}
	var out struct {
		Hits struct {
			Hits []struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := opensearchx.DoJSON(ctx, b.client, opensearchx.Request{Method: http.MethodPost,
		Path: "/" + pattern + "/_search?ignore_unavailable=true&allow_no_indices=true&filter_path=hits.hits._index,hits.hits._id",
		Body: body}, &out); err != nil {
		return fmt.Errorf("search %s for %d ids: %w", pattern, len(ids), requestError(err))
	}
	for _, h := range out.Hits.Hits {
		if _, ok := found[h.ID]; !ok {
			found[h.ID] = h.Index
		}
	}
	return nil
}
