// Package search is the query use case: check what the reader may see, turn
// the request into a store query, and page through results with tokens.
package search

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"

	"github.com/evtrack/telemetry/services/query/internal/auth"
)

const (
	// DefaultPageSize applies when the request leaves page_size at 0.
	DefaultPageSize = 50
	// MaxPageSize is the largest page a request may ask for.
	MaxPageSize = 1000
)

// Query is what the store is asked for. Values only ever fill term filters:
// nothing a caller sends becomes query syntax.
type Query struct {
	Apps   []string // nil: every app
	UserID string
	Size   int
	After  *Cursor
}

// Page is one page of events, newest first; Next is nil on the last page.
type Page struct {
	Events []*telemetryv1.StoredEvent
	Next   *Cursor
}

// ErrStoreUnavailable is wrapped by stores when the backend cannot answer.
var ErrStoreUnavailable = errors.New("event store unavailable")

// Store runs queries.
type Store interface {
	Search(ctx context.Context, q Query) (Page, error)
}

// Service answers QueryService calls for an authenticated principal.
type Service struct {
	store  Store
	tokens *PageTokens
}

// NewService returns a Service over store.
func NewService(store Store, tokens *PageTokens) *Service {
	return &Service{store: store, tokens: tokens}
}

// SearchEvents returns one page of the events the principal may read that
// match req.
func (s *Service) SearchEvents(ctx context.Context, p auth.Principal, req *queryv1.SearchEventsRequest) (*queryv1.SearchEventsResponse, error) {
	q := Query{UserID: req.GetUserId(), Size: int(req.GetPageSize())}
	switch {
	case q.Size == 0:
		q.Size = DefaultPageSize
	case q.Size < 0 || q.Size > MaxPageSize:
		return nil, invalid("page_size", "must be between 1 and %d", MaxPageSize)
	}
	if len(q.UserID) > 256 {
		return nil, invalid("user_id", "longer than 256 characters")
	}
	switch app := req.GetAppId(); {
	case app != "" && !p.CanRead(app):
		return nil, &Error{Kind: KindPermissionDenied, Param: "app_id", Message: "this token may not read app " + app}
	case app != "":
		q.Apps = []string{app}
	case !p.AllApps:
		q.Apps = slices.Clone(p.Apps)
	}
	fp := fingerprint(q)
	if tok := req.GetPageToken(); tok != "" {
		c, err := s.tokens.Open(tok, fp)
		if err != nil {
			return nil, invalid("page_token", "%v", err)
		}
		q.After = &c
	}
	page, err := s.store.Search(ctx, q)
	if err != nil {
		if errors.Is(err, ErrStoreUnavailable) {
			return nil, &Error{Kind: KindUnavailable, Message: "the event store is unavailable; retry later", Err: err}
		}
		return nil, err
	}
	res := &queryv1.SearchEventsResponse{Events: page.Events}
	if page.Next != nil {
		res.NextPageToken = s.tokens.Seal(*page.Next, fp)
	}
	return res, nil
}

// fingerprint hashes the filters of q (not its size or position), binding a
// page token to the query that produced it.
func fingerprint(q Query) []byte {
	b, _ := json.Marshal(struct {
		Apps []string
		User string
	}{q.Apps, q.UserID})
	sum := sha256.Sum256(b)
	return sum[:16]
}
