// Package opensearchx builds OpenSearch clients whose HTTP calls are traced,
// and holds the one way to call them: Do (a request, its error answer read
// to a bound and classified) and Bulk (an NDJSON _bulk body built action by
// action, and the answer to each action).
package opensearchx

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/platform/credentials"
)

// Options configure a client.
type Options struct {
	// URL is one node's URL, or a comma-separated list of a cluster's nodes
	// (OPENSEARCH_URL): requests go round the list, and one that gets no
	// answer from a node (connection refused or reset) is sent to the next
	// at once; a node that failed is left out for a minute (doubling while it
	// keeps failing) unless every node has failed.
	URL      string
	Username string
	Password string
	// Tracing: every request becomes a client span in the caller's trace.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Transport, when set, carries the requests instead of a pool of the
	// client's own (tests share http.DefaultTransport's).
	Transport http.RoundTripper
}

// NewClient returns a client for opts.URL with a pooled, traced transport.
func NewClient(opts Options) (*opensearch.Client, error) {
	addrs, err := SplitURLs(opts.URL)
	if err != nil {
		return nil, err
	}
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	if opts.TracerProvider != nil {
		rt = otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(opts.TracerProvider),
			otelhttp.WithPropagators(opts.Propagator),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return "opensearch " + r.Method + " " + r.URL.Path
			}),
		)
	}
	c, err := opensearch.NewClient(opensearch.Config{
		Addresses: addrs,
		Username:  opts.Username,
		Password:  opts.Password,
		Transport: answerReader{next: rt},
		// Callers own retries and back-off. With several nodes the client
		// sends a request that got no answer to another node (each node
		// once at most); a timeout is not retried (the node may have done
		// the work), nor is any answer (retryOnNoStatus matches none).
		DisableRetry:         len(addrs) == 1,
		MaxRetries:           len(addrs) - 1,
		RetryOnStatus:        []int{retryOnNoStatus},
		EnableRetryOnTimeout: false,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch client for %s: %w", credentials.RedactURLs(opts.URL), err)
	}
	return c, nil
}

// retryOnNoStatus is a status no server sends: the client's list of statuses
// to retry cannot be empty (empty means 502, 503 and 504), and an answer,
// whatever it is, goes back to the caller, whose back-off applies.
const retryOnNoStatus = 599

// SplitURLs splits a comma-separated list of node URLs (OPENSEARCH_URL),
// trimming spaces; each must be an absolute http or https URL.
func SplitURLs(list string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(list, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("opensearch URL %q: want http(s)://host:port", credentials.RedactURLs(u))
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("opensearch URL: none given")
	}
	return out, nil
}

// Ping returns an error unless the cluster answers.
func Ping(c *opensearch.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := DoJSON(ctx, c, Request{Method: http.MethodGet, Path: "/_cluster/health"}, nil); err != nil {
			return fmt.Errorf("opensearch: cluster health: %w", err)
		}
		return nil
	}
}

// Healthy returns an error unless the cluster answers and the indices of
// pattern are at least yellow: with a primary shard that has no copy
// started (red), a search of them answers from the other shards only and
// writes to it fail. A pattern no index matches is green. For readiness:
// another index's trouble does not make a service unready.
func Healthy(c *opensearch.Client, pattern string) func(context.Context) error {
	path := "/_cluster/health/" + url.PathEscape(pattern)
	return func(ctx context.Context) error {
		var health struct {
			Status string `json:"status"`
		}
		if err := DoJSON(ctx, c, Request{Method: http.MethodGet, Path: path}, &health); err != nil {
			return fmt.Errorf("opensearch: cluster health: %w", err)
		}
		if health.Status == "red" {
			return fmt.Errorf("opensearch: %s is red: a primary shard has no copy started", pattern)
		}
		return nil
	}
}

// PutIndexTemplate stores a composable index template under name. PUT
// replaces a stored template, so putting the same body again changes nothing.
func PutIndexTemplate(ctx context.Context, c *opensearch.Client, name string, body []byte) error {
	if err := DoJSON(ctx, c, Request{Method: http.MethodPut, Path: "/_index_template/" + url.PathEscape(name), Body: body}, nil); err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	return nil
}

// DeletePrefix removes everything written under an events index prefix at
// url: the daily indices, the daily dead-letter and audit indices (and the
// single ones of earlier versions), their templates, and the deletion jobs.
// Missing ones are fine; it returns the first failure it met.
func DeletePrefix(ctx context.Context, client *http.Client, url, prefix string) error {
	var first error
	for _, p := range []string{
		"/" + prefix + "-*", "/_index_template/" + prefix,
		"/deadletter-" + prefix + "-*", "/deadletter-" + prefix, "/_index_template/deadletter-" + prefix,
		"/audit-" + prefix + "-*", "/audit-" + prefix, "/_index_template/audit-" + prefix,
		"/deletions-" + prefix,
	} {
		if !strings.HasPrefix(p, "/_index_template/") {
			p += "?ignore_unavailable=true" // the template API refuses the parameter; a missing template is a 404
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url+p, nil)
		if err != nil {
			return fmt.Errorf("delete %s: %w", p, err)
		}
		res, err := client.Do(req)
		if err != nil {
			first = cmp.Or(first, fmt.Errorf("delete %s: %w", p, err))
			continue
		}
		res.Body.Close()
		if res.StatusCode >= 300 && res.StatusCode != http.StatusNotFound {
			first = cmp.Or(first, fmt.Errorf("delete %s: %s", p, res.Status))
		}
	}
	return first
}

// deleteBatch bounds the index names of one DELETE (they go in the URL,
// which OpenSearch caps at 4 KiB).
const deleteBatch = 50

// DeleteIndices deletes the indices (open or closed) matching pattern whose
// name which accepts — by name only, never a wildcard delete — at most
// deleteBatch names a request, and returns the names deleted, also when it
// fails part-way. Deleting is idempotent (a name already gone is no
// error), so several replicas may run it at once.
func DeleteIndices(ctx context.Context, c *opensearch.Client, pattern string, which func(index string) bool) ([]string, error) {
	var rows []struct {
		Index string `json:"index"`
	}
	if err := DoJSON(ctx, c, Request{Method: http.MethodGet,
		Path: "/_cat/indices/" + pattern + "?format=json&h=index&expand_wildcards=open,closed"}, &rows); err != nil {
		return nil, fmt.Errorf("list indices %s: %w", pattern, err)
	}
	var chosen []string
	for _, r := range rows {
		if which(r.Index) {
			chosen = append(chosen, r.Index)
		}
	}
	var deleted []string
	for len(chosen) > 0 {
		batch := chosen[:min(len(chosen), deleteBatch)]
		chosen = chosen[len(batch):]
		if err := DoJSON(ctx, c, Request{Method: http.MethodDelete,
			Path: "/" + strings.Join(batch, ",") + "?ignore_unavailable=true"}, nil); err != nil {
			return deleted, fmt.Errorf("delete %v: %w", batch, err)
		}
		deleted = append(deleted, batch...)
	}
	return deleted, nil
}

// ApplyIndexTemplate puts a composable index template (PutIndexTemplate)
// and then its fields on the existing indices it matches
// (PutTemplateMappingOnExisting). Both are idempotent: every instance may
// apply its templates at every start. The template's number_of_replicas is
// raised to what the template in the cluster already sets, never lowered
// (keepReplicas).
func ApplyIndexTemplate(ctx context.Context, c *opensearch.Client, name string, body []byte) error {
	body, err := keepReplicas(ctx, c, name, body)
	if err != nil {
		return err
	}
	if err := PutIndexTemplate(ctx, c, name, body); err != nil {
		return err
	}
	return PutTemplateMappingOnExisting(ctx, c, name, body)
}

// IndexReplicas is the number_of_replicas of the existing index.
func IndexReplicas(ctx context.Context, c *opensearch.Client, index string) (int, error) {
	var settings map[string]struct {
		Settings struct {
			Index struct {
				Replicas string `json:"number_of_replicas"` // "1" as OpenSearch returns it
			} `json:"index"`
		} `json:"settings"`
	}
	if err := DoJSON(ctx, c, Request{Method: http.MethodGet, Path: "/" + url.PathEscape(index) + "/_settings/index.number_of_replicas"}, &settings); err != nil {
		return 0, fmt.Errorf("read the replicas of %s: %w", index, err)
	}
	n, err := strconv.Atoi(settings[index].Settings.Index.Replicas)
	if err != nil {
		return 0, fmt.Errorf("read the replicas of %s: %q: %w", index, settings[index].Settings.Index.Replicas, err)
	}
	return n, nil
}

// keepReplicas returns body with its template.settings.index.
// number_of_replicas raised to the count the template name in the cluster
// already sets, when that is more: an instance started without the
// cluster's OPENSEARCH_INDEX_REPLICAS (its single-node default is 0) would
// otherwise make every later daily index replica-less, its data on one
// node. Lowering the count is done by hand.
func keepReplicas(ctx context.Context, c *opensearch.Client, name string, body []byte) ([]byte, error) {
	var existing struct {
		IndexTemplates []struct {
			IndexTemplate struct {
				Template struct {
					Settings struct {
						Index struct {
							Replicas json.RawMessage `json:"number_of_replicas"` // "1" as OpenSearch returns it
						} `json:"index"`
					} `json:"settings"`
				} `json:"template"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	err := DoJSON(ctx, c, Request{Method: http.MethodGet, Path: "/_index_template/" + url.PathEscape(name)}, &existing)
	if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusNotFound {
		return body, nil // none yet
	}
	if err != nil {
		return nil, fmt.Errorf("read index template %s: %w", name, err)
	}
	if len(existing.IndexTemplates) == 0 {
		return body, nil
	}
	have, err := strconv.Atoi(strings.Trim(string(existing.IndexTemplates[0].IndexTemplate.Template.Settings.Index.Replicas), `"`))
	if err != nil {
		return body, nil // it sets none
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	tmpl, _ := doc["template"].(map[string]any)
	settings, _ := tmpl["settings"].(map[string]any)
	index, _ := settings["index"].(map[string]any)
	want, ok := index["number_of_replicas"].(float64)
	if !ok || float64(have) <= want {
		return body, nil
	}
	index["number_of_replicas"] = have
	return json.Marshal(doc)
}

// PutTemplateMappingOnExisting adds the fields of a composable index
// template (its body as PutIndexTemplate takes it) that the existing indices
// its patterns match do not have yet. A template shapes only indices created
// after it, so without this a field added to it (an upgrade) would be refused
// by today's strict index until tomorrow's is created. A field the index
// already has keeps its mapping there: OpenSearch cannot change most of an
// existing field's parameters (doc values, norms, its type), so such a change
// takes effect from the next daily index on.
func PutTemplateMappingOnExisting(ctx context.Context, c *opensearch.Client, name string, body []byte) error {
	var doc struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("parse template %s: %w", name, err)
	}
	if len(doc.Template.Mappings.Properties) == 0 || len(doc.IndexPatterns) == 0 {
		return nil
	}
	var escaped []string
	for _, p := range doc.IndexPatterns {
		escaped = append(escaped, url.PathEscape(p))
	}
	var existing map[string]struct {
		Mappings struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"mappings"`
	}
	path := "/" + strings.Join(escaped, ",") + "/_mapping?allow_no_indices=true&ignore_unavailable=true"
	if err := DoJSON(ctx, c, Request{Method: http.MethodGet, Path: path}, &existing); err != nil {
		return fmt.Errorf("mappings of %v (template %s): %w", doc.IndexPatterns, name, err)
	}
	indices := slices.Sorted(maps.Keys(existing))
	for _, index := range indices {
		missing := map[string]json.RawMessage{}
		for field, m := range doc.Template.Mappings.Properties {
			if _, ok := existing[index].Mappings.Properties[field]; !ok {
				missing[field] = m
			}
		}
		if len(missing) == 0 {
			continue
		}
		b, err := json.Marshal(map[string]any{"properties": missing})
		if err != nil {
			return fmt.Errorf("mapping of template %s for %s: %w", name, index, err)
		}
		if err := DoJSON(ctx, c, Request{Method: http.MethodPut, Path: "/" + url.PathEscape(index) + "/_mapping", Body: b}, nil); err != nil {
			return fmt.Errorf("put the new fields of template %s on %s: %w", name, index, err)
		}
	}
	return nil
}
