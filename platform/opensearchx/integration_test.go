package opensearchx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestBulkAgainstOpenSearch: on the real node, a create of a new id is 201,
// of an existing one 409 with OpenSearch's type; deletes are applied; an
// error status comes back as a *StatusError with its type.
func TestBulkAgainstOpenSearch(t *testing.T) {
	t.Parallel()
	osURL, index := testenv.Indices(t, "osx")
	c := testenv.OpenSearch(t, osURL)
	ctx := context.Background()
	var body opensearchx.BulkBody
	body.Create(index+"-a", "1", []byte(`{"n":1}`))
	body.Create(index+"-a", "2", []byte(`{"n":2}`))
	items, err := opensearchx.Bulk(ctx, c, &body)
	if err != nil || len(items) != 2 || items[0].Status != 201 || items[1].Status != 201 {
		t.Fatalf("first create: %v %v", items, err)
	}
	body.Reset()
	body.Create(index+"-a", "1", []byte(`{"n":1}`))
	body.Create(index+"-a", "3", []byte(`{"n":3}`))
	items, err = opensearchx.Bulk(ctx, c, &body)
	if err != nil || len(items) != 2 || items[0].Status != 409 || items[0].ErrorType != "version_conflict_engine_exception" || items[1].Status != 201 {
		t.Fatalf("second create: %v %v", items, err)
	}
	body.Reset()
	body.Delete(index+"-a", "1")
	body.Index(index+"-a", "2", []byte(`{"n":22}`))
	if err := opensearchx.BulkAll(ctx, c, &body); err != nil {
		t.Fatalf("delete and index: %v", err)
	}
	var doc struct {
		Source struct {
			N int `json:"n"`
		} `json:"_source"`
	}
	if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodGet, Path: "/" + index + "-a/_doc/2"}, &doc); err != nil || doc.Source.N != 22 {
		t.Fatalf("document 2 after index: %+v %v", doc, err)
	}
	_, err = opensearchx.Do(ctx, c, opensearchx.Request{Method: http.MethodGet, Path: "/" + index + "-missing/_search"})
	var se *opensearchx.StatusError
	if !errors.As(err, &se) || se.Status != 404 || se.Type != "index_not_found_exception" || errors.Is(err, opensearchx.ErrUnavailable) {
		t.Fatalf("search of a missing index: %v", err)
	}
}

// TestHealthyRedIndices: on the real node, a pattern whose index has a
// primary with no copy started (allocated to no node) is red and Healthy
// fails for it,
// while a pattern of healthy indices and one matching nothing pass; a
// search of the red pattern answers 200 with a shard neither successful
// nor failed, which Shards.Partial takes as partial.
func TestHealthyRedIndices(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "ping")
	c := testenv.OpenSearch(t, osURL)
	ctx := context.Background()
	testenv.PutJSON(t, osURL, "/"+prefix+"-ok-1", `{"settings":{"number_of_replicas":0}}`)
	if err := opensearchx.Healthy(c, prefix+"-*")(ctx); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	testenv.PutJSON(t, osURL, "/"+prefix+"-red-1?wait_for_active_shards=0", `{"settings":{"number_of_replicas":0,"index.routing.allocation.require._name":"no-such-node"}}`)
	if err := opensearchx.Healthy(c, prefix+"-*")(ctx); err == nil {
		t.Fatal("a red index passed")
	}
	for _, pattern := range []string{prefix + "-ok-*", prefix + "-none-*"} {
		if err := opensearchx.Healthy(c, pattern)(ctx); err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
	}
	var res struct {
		Shards opensearchx.Shards `json:"_shards"`
	}
	if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodPost, Path: "/" + prefix + "-*/_search?ignore_unavailable=true", Body: []byte(`{"size":0}`)}, &res); err != nil {
		t.Fatal(err)
	}
	if err := res.Shards.Partial(); !errors.Is(err, opensearchx.ErrUnavailable) {
		t.Fatalf("%+v: Partial() = %v, want it partial", res.Shards, err)
	}
}

// TestApplyIndexTemplateNeverLowersReplicas: an instance that applies a
// template with fewer replicas than the cluster's template has (one started
// without OPENSEARCH_INDEX_REPLICAS) leaves the count as it is; more raises
// it. Before, the last instance to start set it, and every later daily
// index of a cluster could be made without a replica.
func TestApplyIndexTemplateNeverLowersReplicas(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "tplrep")
	c := testenv.OpenSearch(t, osURL)
	name := prefix // deleted with the prefix's indices
	body := func(replicas int) []byte {
		return []byte(fmt.Sprintf(`{"index_patterns":[%q],"template":{"settings":{"index":{"number_of_shards":1,"number_of_replicas":%d}},`+
			`"mappings":{"properties":{"a":{"type":"keyword"}}}}}`, prefix+"-*", replicas))
	}
	for _, step := range []struct{ apply, want int }{{1, 1}, {0, 1}, {2, 2}, {1, 2}} {
		if err := opensearchx.ApplyIndexTemplate(context.Background(), c, name, body(step.apply)); err != nil {
			t.Fatal(err)
		}
		var got struct {
			IndexTemplates []struct {
				IndexTemplate struct {
					Template struct {
						Settings struct {
							Index struct {
								Replicas string `json:"number_of_replicas"`
							} `json:"index"`
						} `json:"settings"`
					} `json:"template"`
				} `json:"index_template"`
			} `json:"index_templates"`
		}
		if err := json.Unmarshal(testenv.Do(t, osURL, http.MethodGet, "/_index_template/"+name, ""), &got); err != nil || len(got.IndexTemplates) != 1 {
			t.Fatalf("read the template: %v %+v", err, got)
		}
		if r := got.IndexTemplates[0].IndexTemplate.Template.Settings.Index.Replicas; r != fmt.Sprint(step.want) {
			t.Fatalf("applied with %d replicas: the template has %s, want %d", step.apply, r, step.want)
		}
	}
}
