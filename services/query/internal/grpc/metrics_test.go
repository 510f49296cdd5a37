package grpc

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
)

func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestMeteredRecorder: each entry is counted by method, transport and
// status, its duration observed, and passed on unchanged; a method
// QueryService does not have is counted as "other".
func TestMeteredRecorder(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	next := &entries{}
	r := Metered(next, m)
	for _, e := range []audit.Entry{
		{Method: "SearchEvents", Transport: audit.TransportGRPC, Status: "OK", DurationMs: 7},
		{Method: "SearchEvents", Transport: audit.TransportGRPC, Status: "OK", DurationMs: 3},
		{Method: "EventStats", Transport: audit.TransportHTTP, Status: "InvalidArgument", DurationMs: 1},
		{Method: "NoSuchMethod-12345", Transport: audit.TransportGRPC, Status: "Unauthenticated"},
	} {
		r.Record(context.Background(), e)
	}
	for _, tt := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"SearchEvents", "grpc", "OK"}, 2},
		{[]string{"EventStats", "http", "InvalidArgument"}, 1},
		{[]string{"other", "grpc", "Unauthenticated"}, 1},
		{[]string{"NoSuchMethod-12345", "grpc", "Unauthenticated"}, 0},
	} {
		if got := testutil.ToFloat64(m.Requests.WithLabelValues(tt.labels...)); got != tt.want {
			t.Errorf("requests %v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if got := histogramCount(t, m.RequestSeconds.WithLabelValues("SearchEvents")); got != 2 {
		t.Errorf("SearchEvents latency samples %d, want 2", got)
	}
	if len(next.list) != 4 || next.list[3].Method != "NoSuchMethod-12345" {
		t.Errorf("passed on %v", next.list)
	}
}

// TestRateLimitCountsRefusals: a call over the limit is refused and
// counted; calls within it are not counted.
func TestRateLimitCountsRefusals(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	ic := RateLimitInterceptor(0.001, 2, m.RateLimited)
	ctx := context.WithValue(context.Background(), principalKey{}, auth.Principal{Name: "token-x"})
	info := &grpc.UnaryServerInfo{FullMethod: queryv1.QueryService_SearchEvents_FullMethodName}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	var codesSeen []codes.Code
	for range 3 {
		_, err := ic(ctx, nil, info, ok)
		codesSeen = append(codesSeen, status.Code(err))
	}
	if codesSeen[0] != codes.OK || codesSeen[1] != codes.OK || codesSeen[2] != codes.ResourceExhausted {
		t.Fatalf("codes %v", codesSeen)
	}
	if got := testutil.ToFloat64(m.RateLimited); got != 1 {
		t.Fatalf("rate limited %v, want 1", got)
	}
}
