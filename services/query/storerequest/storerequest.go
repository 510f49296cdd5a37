// Package storerequest gives the OpenSearch request the query service sends
// for a call, built by the service's own code, so that a benchmark can send
// the very same request straight to OpenSearch and compare the two.
package storerequest

import (
	"fmt"
	"slices"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/opensearch"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Request is one OpenSearch search: a POST of Body to Path.
type Request struct {
	Path string // below the OpenSearch base URL, with its query string
	Body []byte // JSON
}

// SearchEvents is the request the service sends to OpenSearch for req
// without a page token, over the indices prefix-*, for a reader of apps
// (nil: every app).
func SearchEvents(prefix string, apps []string, req *queryv1.SearchEventsRequest) (Request, error) {
	if req.GetPageToken() != "" {
		return Request{}, fmt.Errorf("search request: a page token is sealed by the service; want a first page")
	}
	p := auth.Principal{AllApps: apps == nil, Apps: slices.Clone(apps)}
	q, err := search.PageQuery(p, req)
	if err != nil {
		return Request{}, fmt.Errorf("search request: %w", err)
	}
	body, err := opensearch.Body(q)
	if err != nil {
		return Request{}, fmt.Errorf("search request: %w", err)
	}
	return Request{Path: opensearch.SearchPath(prefix), Body: body}, nil
}
