// Package search is the query use case: check what the reader may see, turn
// the request into a store query, and page through results with tokens.
package search

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"
	"unsafe"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"

	"github.com/evtrack/telemetry/services/query/internal/auth"
)

const (
	// DefaultPageSize applies when the request leaves page_size at 0.
	DefaultPageSize = 50
	// MaxPageSize is the largest page a request may ask for.
	MaxPageSize = 1000
	// DefaultTop and MaxTop bound the top-N lists of stats and summaries.
	DefaultTop = 10
	MaxTop     = 100
)

// Intervals are the stats bucket sizes offered.
var Intervals = map[string]time.Duration{"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour}

// Query is a page of a search.
type Query struct {
	Filters
	Size  int
	After *Cursor
}

// Page is one page of events, newest first; Next is nil on the last page.
type Page struct {
	Events []*telemetryv1.StoredEvent
	Next   *Cursor
}

// ErrTooManyBuckets is wrapped by stores when a stats call would make more
// buckets than the backend returns at once.
var ErrTooManyBuckets = errors.New("too many buckets")

// ErrStoreUnavailable is wrapped by stores when the backend cannot answer.
var ErrStoreUnavailable = errors.New("event store unavailable")

// Store runs queries.
type Store interface {
	Search(ctx context.Context, q Query) (Page, error)
	// FindEvent returns up to two events with eventID among f.Apps.
	FindEvent(ctx context.Context, f Filters, eventID string) ([]*telemetryv1.StoredEvent, error)
	UserSummary(ctx context.Context, f Filters, top int) (*queryv1.GetUserSummaryResponse, error)
	Stats(ctx context.Context, f Filters, interval string, top int) (*queryv1.EventStatsResponse, error)
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
	q, err := PageQuery(p, req)
	if err != nil {
		return nil, err
	}
	f := q.Filters
	fp := fingerprint(f)
	if tok := req.GetPageToken(); tok != "" {
		c, err := s.tokens.Open(tok, fp)
		if err != nil {
			return nil, invalid("page_token", "%v", err)
		}
		q.After = &c
	}
	if f.Apps != nil && len(f.Apps) == 0 {
		return &queryv1.SearchEventsResponse{}, nil // a token scoped to no app sees nothing
	}
	page, err := s.store.Search(ctx, q)
	if err != nil {
		return nil, storeError(err)
	}
	res := &queryv1.SearchEventsResponse{Events: page.Events}
	if page.Next != nil {
		res.NextPageToken = s.tokens.Seal(*page.Next, fp)
	}
	return res, nil
}

// PageQuery is the store query of req's page for the principal, without
// its page token: the filters checked and scoped to the apps p may read,
// the page size defaulted and bounded.
func PageQuery(p auth.Principal, req *queryv1.SearchEventsRequest) (Query, error) {
	f, err := Scope(p, requestOf(req))
	if err != nil {
		return Query{}, err
	}
	q := Query{Filters: f, Size: int(req.GetPageSize())}
	switch {
	case q.Size == 0:
		q.Size = DefaultPageSize
	case q.Size < 0 || q.Size > MaxPageSize:
		return Query{}, invalid("page_size", "must be between 1 and %d", MaxPageSize)
	}
	return q, nil
}

// GetEvent returns the event with req's id among the apps the principal may
// read.
func (s *Service) GetEvent(ctx context.Context, p auth.Principal, req *queryv1.GetEventRequest) (*queryv1.GetEventResponse, error) {
	if req.GetEventId() == "" {
		return nil, invalid("event_id", "required")
	}
	if err := checkValue("event_id", req.GetEventId(), 128); err != nil {
		return nil, err
	}
	f, err := Scope(p, requestOf(req))
	if err != nil {
		return nil, err
	}
	events, err := s.store.FindEvent(ctx, f, req.GetEventId())
	if err != nil {
		return nil, storeError(err)
	}
	switch len(events) {
	case 0:
		return nil, &Error{Kind: KindNotFound, Param: "event_id", Message: "no such event"}
	case 1:
		return &queryv1.GetEventResponse{Event: events[0]}, nil
	default:
		return nil, invalid("app_id", "required: apps %s and %s both have event %s", events[0].AppId, events[1].AppId, req.GetEventId())
	}
}

// GetUserSummary sums up a user's events.
func (s *Service) GetUserSummary(ctx context.Context, p auth.Principal, req *queryv1.GetUserSummaryRequest) (*queryv1.GetUserSummaryResponse, error) {
	if req.GetUserId() == "" {
		return nil, invalid("user_id", "required")
	}
	f, err := Scope(p, requestOf(req))
	if err != nil {
		return nil, err
	}
	if f.Apps != nil && len(f.Apps) == 0 {
		return &queryv1.GetUserSummaryResponse{UserId: req.GetUserId()}, nil
	}
	res, err := s.store.UserSummary(ctx, f, DefaultTop)
	if err != nil {
		return nil, storeError(err)
	}
	res.UserId = req.GetUserId()
	return res, nil
}

// EventStats counts events over time and by name.
func (s *Service) EventStats(ctx context.Context, p auth.Principal, req *queryv1.EventStatsRequest) (*queryv1.EventStatsResponse, error) {
	f, err := Scope(p, requestOf(req))
	if err != nil {
		return nil, err
	}
	interval := req.GetInterval()
	if interval == "" {
		interval = "1h"
	}
	if _, ok := Intervals[interval]; !ok {
		return nil, invalid("interval", "one of 1m, 5m, 15m, 1h, 1d")
	}
	top := int(req.GetTop())
	switch {
	case top == 0:
		top = DefaultTop
	case top < 0 || top > MaxTop:
		return nil, invalid("top", "between 1 and %d", MaxTop)
	}
	if f.Apps != nil && len(f.Apps) == 0 {
		return &queryv1.EventStatsResponse{Interval: interval}, nil
	}
	res, err := s.store.Stats(ctx, f, interval, top)
	if errors.Is(err, ErrTooManyBuckets) {
		// Without from, how far back the events go is known only now.
		return nil, invalid("interval", "the events found fill more buckets of %s than OpenSearch returns at once (search.max_buckets, 65,535 by default): narrow from and to, or choose a larger interval",
			interval)
	}
	if err != nil {
		return nil, storeError(err)
	}
	res.Interval = interval
	return res, nil
}

func storeError(err error) error {
	if errors.Is(err, ErrStoreUnavailable) {
		return &Error{Kind: KindUnavailable, Message: "the event store is unavailable; retry later", Err: err}
	}
	return err
}

// fingerprint hashes the filters the table binds page tokens to (not the
// page size or position), binding a page token to the query and scope that
// produced it.
func fingerprint(f Filters) []byte {
	var buf [512]byte
	sum := sha256.Sum256(filterTable.binding(buf[:0], unsafe.Pointer(&f)))
	return sum[:16]
}
