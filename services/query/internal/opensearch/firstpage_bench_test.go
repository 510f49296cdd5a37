package opensearch

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// bodyStore builds the OpenSearch request body of every search, as the
// Searcher does before sending it, and answers a full page.
type bodyStore struct{ n int }

func (s *bodyStore) Search(_ context.Context, q search.Query) (search.Page, error) {
	body, err := Body(q)
	s.n += len(body)
	return search.Page{Next: &search.Cursor{TimestampMillis: 1764151200000, DocID: "0123456789abcdef0123456789abcdef"}}, err
}

func (s *bodyStore) FindEvent(context.Context, search.Filters, string) ([]*telemetryv1.StoredEvent, error) {
	return nil, nil
}

func (s *bodyStore) UserSummary(context.Context, search.Filters, int) (*queryv1.GetUserSummaryResponse, error) {
	return &queryv1.GetUserSummaryResponse{}, nil
}

func (s *bodyStore) Stats(context.Context, search.Filters, string, int) (*queryv1.EventStatsResponse, error) {
	return &queryv1.EventStatsResponse{}, nil
}

// BenchmarkFirstPage is the service's own work for a first page (no page
// token): reading the filters, validating and scoping them, the page-token
// fingerprint, the OpenSearch body and sealing the next page's token —
// everything but the network and OpenSearch.
func BenchmarkFirstPage(b *testing.B) {
	tokens, err := search.NewPageTokens(search.KeyRing{Current: bytes.Repeat([]byte("k"), search.MinPageTokenKeyLen)})
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		req  *queryv1.SearchEventsRequest
	}{
		{"user", &queryv1.SearchEventsRequest{UserId: "user-0012345"}},
		{"many filters", &queryv1.SearchEventsRequest{UserId: "user-0012345", SessionId: "s-1", EventName: []string{"tap", "purchase"},
			DeviceOs: "iOS", From: timestamppb.New(from), To: timestamppb.New(from.Add(24 * time.Hour)), Q: `"null pointer" -debug`}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			svc := search.NewService(&bodyStore{}, tokens)
			p := auth.Principal{Name: "token-0123abcd", Apps: []string{"app-a", "app-b"}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				res, err := svc.SearchEvents(ctx, p, bc.req)
				if err != nil || res.NextPageToken == "" {
					b.Fatal(res, err)
				}
			}
		})
	}
}
