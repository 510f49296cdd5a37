package search

import (
	"context"
	"errors"
	"fmt"
	"testing"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// statsStore answers every stats call with err.
type statsStore struct {
	Store
	err error
}

func (s statsStore) Stats(context.Context, Filters, string, int) (*queryv1.EventStatsResponse, error) {
	return nil, s.err
}

// TestStatsErrors: a histogram OpenSearch cannot hold is the caller's to
// change (a larger interval, a from), not a store to retry.
func TestStatsErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantKind  Kind
		wantParam string
	}{
		{"too many buckets", fmt.Errorf("stats: %w", ErrTooManyBuckets), KindInvalidArgument, "interval"},
		{"store unavailable", fmt.Errorf("stats: %w", ErrStoreUnavailable), KindUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewService(statsStore{err: tt.err}, nil)
			_, err := s.EventStats(context.Background(), auth.Principal{AllApps: true}, &queryv1.EventStatsRequest{Interval: "1m"})
			var se *Error
			if !errors.As(err, &se) || se.Kind != tt.wantKind || se.Param != tt.wantParam {
				t.Fatalf("err = %#v, want kind %v naming %q", err, tt.wantKind, tt.wantParam)
			}
		})
	}
}
