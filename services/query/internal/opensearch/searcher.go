// Package opensearch is the query service's event store: it turns search
// queries into OpenSearch requests built from typed values (never from
// strings a caller sent) and maps hits to StoredEvent.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Searcher reads the daily event indices of one prefix.
type Searcher struct {
	client  *opensearch.Client
	pattern string
}

// NewSearcher returns a store over the indices prefix-*.
func NewSearcher(client *opensearch.Client, prefix string) *Searcher {
	return &Searcher{client: client, pattern: eventdoc.Pattern(prefix)}
}

type m = map[string]any

// Body builds the search request body for q. It asks for one hit more than
// the page, to know whether another page follows.
func Body(q search.Query) ([]byte, error) {
	filters := []any{}
	if q.Apps != nil {
		filters = append(filters, m{"terms": m{"app_id": q.Apps}})
	}
	if q.UserID != "" {
		filters = append(filters, m{"term": m{"user_id": q.UserID}})
	}
	body := m{
		"size":             q.Size + 1,
		"track_total_hits": false,
		"query":            m{"bool": m{"filter": filters}},
		"sort": []any{
			m{"timestamp": m{"order": "desc"}},
			m{"doc_id": m{"order": "desc"}},
		},
	}
	if q.After != nil {
		body["search_after"] = []any{q.After.TimestampMillis, q.After.DocID}
	}
	return json.Marshal(body)
}

type searchResponse struct {
	Hits struct {
		Hits []struct {
			Source eventdoc.Source   `json:"_source"`
			Sort   []json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
}

// Search runs q.
func (s *Searcher) Search(ctx context.Context, q search.Query) (search.Page, error) {
	if q.Apps != nil && len(q.Apps) == 0 {
		return search.Page{}, nil // a token scoped to no app sees nothing
	}
	body, err := Body(q)
	if err != nil {
		return search.Page{}, fmt.Errorf("build search: %w", err)
	}
	allowNoIndices, ignoreUnavailable := true, true
	res, err := opensearchapi.SearchRequest{
		Index:             []string{s.pattern},
		Body:              bytes.NewReader(body),
		AllowNoIndices:    &allowNoIndices,
		IgnoreUnavailable: &ignoreUnavailable,
	}.Do(ctx, s.client)
	if err != nil {
		return search.Page{}, fmt.Errorf("search %s: %w: %w", s.pattern, search.ErrStoreUnavailable, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		err := fmt.Errorf("search %s: %s: %s", s.pattern, res.Status(), msg)
		if res.StatusCode == 429 || res.StatusCode >= 500 {
			err = fmt.Errorf("%w: %w", search.ErrStoreUnavailable, err)
		}
		return search.Page{}, err
	}
	var sr searchResponse
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		return search.Page{}, fmt.Errorf("decode search response: %w", err)
	}
	hits := sr.Hits.Hits
	page := search.Page{Events: make([]*telemetryv1.StoredEvent, 0, min(len(hits), q.Size))}
	for i, h := range hits {
		if i == q.Size {
			last := hits[i-1]
			c, err := cursor(last.Sort)
			if err != nil {
				return search.Page{}, err
			}
			page.Next = &c
			break
		}
		page.Events = append(page.Events, stored(&h.Source))
	}
	return page, nil
}

func cursor(sort []json.RawMessage) (search.Cursor, error) {
	var c search.Cursor
	if len(sort) != 2 {
		return c, fmt.Errorf("hit has %d sort values, want 2", len(sort))
	}
	if err := json.Unmarshal(sort[0], &c.TimestampMillis); err != nil {
		return c, fmt.Errorf("sort timestamp %s: %w", sort[0], err)
	}
	if err := json.Unmarshal(sort[1], &c.DocID); err != nil {
		return c, fmt.Errorf("sort doc_id %s: %w", sort[1], err)
	}
	return c, nil
}

func stored(s *eventdoc.Source) *telemetryv1.StoredEvent {
	e := &telemetryv1.StoredEvent{
		Id:               s.DocID,
		AppId:            s.AppID,
		EventId:          s.EventID,
		UserId:           s.UserID,
		AnonymousId:      s.AnonymousID,
		SessionId:        s.SessionID,
		EventName:        s.EventName,
		Timestamp:        timestamppb.New(s.Timestamp),
		ClientTimestamp:  timestamppb.New(s.ClientTimestamp),
		ReceivedAt:       timestamppb.New(s.ReceivedAt),
		IngestedAt:       timestamppb.New(s.IngestedAt),
		AppVersion:       s.AppVersion,
		DeviceOs:         s.DeviceOS,
		Metadata:         s.Metadata,
		Message:          s.Message,
		ClockSkewed:      s.ClockSkewed,
		TimestampClamped: s.TimestampClamped,
		OsName:           s.OSName,
		OsVersion:        s.OSVersion,
		DeviceModel:      s.DeviceModel,
		UserAgent:        s.UserAgent,
		Country:          s.Country,
		City:             s.City,
	}
	if s.SentAt != nil {
		e.SentAt = timestamppb.New(*s.SentAt)
	}
	if s.ClockSkewMs != nil {
		e.ClockSkewMs, e.HasClockSkew = *s.ClockSkewMs, true
	}
	return e
}
