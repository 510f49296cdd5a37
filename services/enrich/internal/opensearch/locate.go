package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"
)

// LocateRef names a document to look for: its id, and the indices to read
// it from in real time.
type LocateRef struct {
	ID      string
	Indices []string
}

// locateIDsPerSearch bounds the ids of one `ids` query.
const locateIDsPerSearch = 2000

// Locate finds which of refs are already written, and where. Each ref's
// Indices are read with _mget, which is real time (it sees a document
// written a moment ago, before any refresh); when pattern is not empty,
// every index matching it is searched with one `ids` query per
// locateIDsPerSearch ids (_source off), which sees what the last refresh
// made visible (a second, at most, behind). It returns the index of every id
// found. A missing index is not an error: nothing is in it.
func (b *BulkIndexer) Locate(ctx context.Context, pattern string, refs []LocateRef) (map[string]string, error) {
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

func (b *BulkIndexer) mget(ctx context.Context, refs []LocateRef, found map[string]string) error {
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
	res, err := opensearchapi.MgetRequest{Body: bytes.NewReader(body),
		FilterPath: []string{"docs._index", "docs._id", "docs.found"}}.Do(ctx, b.client)
	if err != nil {
		return fmt.Errorf("look up %d documents: %w", len(req.Docs), err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("look up %d documents: %w", len(req.Docs), requestError(res))
	}
	var out struct {
		Docs []struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
			Found bool   `json:"found"`
		} `json:"docs"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return fmt.Errorf("look up %d documents: decode: %w", len(req.Docs), err)
	}
	for _, d := range out.Docs {
		if d.Found {
			found[d.ID] = d.Index
		}
	}
	return nil
}

func (b *BulkIndexer) searchIDs(ctx context.Context, pattern string, ids []string, found map[string]string) error {
	body, err := json.Marshal(map[string]any{
		// A copy in more than one index (written before this lookup
		// existed) takes more than one hit: leave room for some.
		"size": min(3*len(ids), 10000), "_source": false, "track_total_hits": false,
		"query": map[string]any{"ids": map[string]any{"values": ids}},
	})
	if err != nil {
		return err
	}
	yes := true
	res, err := opensearchapi.SearchRequest{Index: []string{pattern}, Body: bytes.NewReader(body),
		IgnoreUnavailable: &yes, AllowNoIndices: &yes,
		FilterPath: []string{"hits.hits._index", "hits.hits._id"}}.Do(ctx, b.client)
	if err != nil {
		return fmt.Errorf("search %s for %d ids: %w", pattern, len(ids), err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("search %s for %d ids: %w", pattern, len(ids), requestError(res))
	}
	var out struct {
		Hits struct {
			Hits []struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return fmt.Errorf("search %s for %d ids: decode: %w", pattern, len(ids), err)
	}
	for _, h := range out.Hits.Hits {
		if _, ok := found[h.ID]; !ok {
			found[h.ID] = h.Index
		}
	}
	return nil
}
