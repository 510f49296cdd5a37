package testenv

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/platform/opensearchx"
)

// OpenSearch returns a client of the node at url (see OpenSearchURL) for a
// test's own set-up and checks, through opensearchx.Do and opensearchx.Bulk.
// It shares http.DefaultTransport's connections, so a test may make one per
// call.
func OpenSearch(t testing.TB, url string) *opensearch.Client {
	t.Helper()
	c, err := opensearchx.NewClient(opensearchx.Options{URL: url, Transport: http.DefaultTransport})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// requestTimeout bounds one set-up or check request of a test.
const requestTimeout = 30 * time.Second

// Do sends method path (with its query) and body (JSON; "" for none) to the
// node at url and returns the answer; the test fails unless it is a 2xx.
func Do(t testing.TB, url, method, path, body string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	r := opensearchx.Request{Method: method, Path: path}
	if body != "" {
		r.Body = []byte(body)
	}
	out, err := opensearchx.Do(ctx, OpenSearch(t, url), r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return out
}

// PutJSON PUTs body to path on the node at url (an index with its settings
// or mappings, a document) and fails the test unless it answers 2xx.
func PutJSON(t testing.TB, url, path, body string) {
	t.Helper()
	Do(t, url, http.MethodPut, path, body)
}

// Exists reports whether path (an index, a template) exists on the node at
// url: a HEAD answered 200 is true, 404 false; any other answer fails the
// test.
func Exists(t testing.TB, url, path string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := opensearchx.Do(ctx, OpenSearch(t, url), opensearchx.Request{Method: http.MethodHead, Path: path})
	var status *opensearchx.StatusError
	switch {
	case err == nil:
		return true
	case errors.As(err, &status) && status.Status == http.StatusNotFound:
		return false
	default:
		t.Fatalf("HEAD %s: %v", path, err)
		return false
	}
}

// Refresh makes everything written to the indices matching pattern visible
// to searches (no index matching is not an error).
func Refresh(t testing.TB, url, pattern string) {
	t.Helper()
	Do(t, url, http.MethodPost, "/"+pattern+"/_refresh?allow_no_indices=true&ignore_unavailable=true", "")
}

// Count returns how many documents the indices matching pattern hold, after
// a refresh.
func Count(t testing.TB, url, pattern string) int {
	t.Helper()
	Refresh(t, url, pattern)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var c struct {
		Count int `json:"count"`
	}
	path := "/" + pattern + "/_count?allow_no_indices=true&ignore_unavailable=true"
	if err := opensearchx.DoJSON(ctx, OpenSearch(t, url), opensearchx.Request{Method: http.MethodGet, Path: path}, &c); err != nil {
		t.Fatalf("count %s: %v", pattern, err)
	}
	return c.Count
}

// Sources returns the _source of each document that search (a _search
// body; "" for every document, up to 10,000) finds in the indices matching
// pattern on the node at url, with its "_index" and "_id" added, after a
// refresh; or OpenSearch's error. A test that polls takes an error for
// "not yet" (an index created a moment ago answers 503 until its shard has
// started); a test that asserts fails on it.
func Sources(t testing.TB, url, pattern, search string) ([]map[string]any, error) {
	t.Helper()
	c := OpenSearch(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	const missingOK = "allow_no_indices=true&ignore_unavailable=true"
	// Best effort, like the search: a shard that has not started fails both.
	_, _ = opensearchx.Do(ctx, c, opensearchx.Request{Method: http.MethodPost, Path: "/" + pattern + "/_refresh?" + missingOK})
	if search == "" {
		search = `{"size":10000}`
	}
	var out struct {
		Hits struct {
			Hits []struct {
				Index  string         `json:"_index"`
				ID     string         `json:"_id"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	r := opensearchx.Request{Method: http.MethodPost, Path: "/" + pattern + "/_search?" + missingOK, Body: []byte(search)}
	if err := opensearchx.DoJSON(ctx, c, r, &out); err != nil {
		return nil, err
	}
	var docs []map[string]any
	for _, h := range out.Hits.Hits {
		h.Source["_index"], h.Source["_id"] = h.Index, h.ID
		docs = append(docs, h.Source)
	}
	return docs, nil
}

// Bulk sends body to the node at url and fails the test unless every
// action was applied.
func Bulk(t testing.TB, url string, body *opensearchx.BulkBody) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := opensearchx.BulkAll(ctx, OpenSearch(t, url), body); err != nil {
		t.Fatalf("bulk of %d actions: %v", body.Actions(), err)
	}
}

// deleteBestEffort deletes path on the node at url, ignoring any failure.
func deleteBestEffort(url, path string) {
	c, err := opensearchx.NewClient(opensearchx.Options{URL: url, Transport: http.DefaultTransport})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, _ = opensearchx.Do(ctx, c, opensearchx.Request{Method: http.MethodDelete, Path: path})
}

// DeleteOnCleanup deletes, when the test ends, each of paths (indices,
// templates) on the node at url. Best effort: cleanup never fails a test.
func DeleteOnCleanup(t testing.TB, url string, paths ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, p := range paths {
			deleteBestEffort(url, p)
		}
	})
}

// Indices sets up a test's own indices on the real node: it returns the
// node's URL and an index prefix unique to this test run (Name(t, short)),
// under which everything is deleted when the test ends (DeleteIndexData).
func Indices(t testing.TB, short string) (url, prefix string) {
	t.Helper()
	url = OpenSearchURL(t)
	prefix = Name(t, short)
	DeleteIndexData(t, url, prefix)
	return url, prefix
}

// IndexReplicas returns the number_of_replicas index has on the node at
// url, as OpenSearch gives it ("1").
func IndexReplicas(t testing.TB, url, index string) string {
	t.Helper()
	n, err := opensearchx.IndexReplicas(context.Background(), OpenSearch(t, url), index)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(n)
}
