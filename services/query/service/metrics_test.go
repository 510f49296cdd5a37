package service

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// metric returns the value of the sample of name whose labels include
// every one of labels ("k=v"), summed over the samples that match; ok is
// false when none does.
func metric(body, name string, labels ...string) (sum float64, ok bool) {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		metricName, labelText, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		if metricName != name {
			continue
		}
		have := map[string]bool{}
		for _, l := range strings.Split(labelText, ",") {
			k, v, _ := strings.Cut(l, "=")
			have[k+"="+strings.Trim(v, `"`)] = true
		}
		match := true
		for _, l := range labels {
			match = match && have[l]
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil && match {
			sum, ok = sum+v, true
		}
	}
	return sum, ok
}

func (e *env) scrape(t *testing.T) string {
	t.Helper()
	code, body := e.get(t, "", "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return string(body)
}

// TestMetricsCountCalls, through the real servers: /metrics on the HTTP
// listener counts calls by method, transport and code — also those the
// gRPC tap refuses and those with a method QueryService does not have (as
// "other") — their latency, rate-limited calls, audit entries written and,
// once OpenSearch is unreachable, dropped, and the audit indices the
// retention deletes.
func TestMetricsCountCalls(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	expired := eventdoc.AuditIndex(prefix, time.Now().UTC().Add(-40*24*time.Hour))
	putAuditIndices(t, osURL, prefix, expired)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(osURL, "http://"))
	e := runQuery(t, "http://"+proxy.Addr(), prefix, map[string]string{
		"QUERY_AUDIT_RETENTION": "720h", "QUERY_RATE_LIMIT_PER_SEC": "0.01", "QUERY_RATE_LIMIT_BURST": "2",
	})
	before := e.scrape(t)
	// (The retention's first pass may already have run: it starts with the service.)
	for _, name := range []string{"query_requests_total", "query_rate_limited_total", "query_audit_entries_written_total"} {
		if v, _ := metric(before, name); v != 0 {
			t.Fatalf("%s is %v before any call", name, v)
		}
	}
	if _, ok := metric(before, "query_audit_entries_dropped_total", "reason=write_failed"); !ok {
		t.Fatalf("no query_audit_entries_dropped_total{reason=write_failed} series before the first drop:\n%s", before)
	}

	if _, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u1"}); err != nil {
		t.Fatal(err)
	}
	if code, body := e.get(t, tokenA, "/v1/users/u1/summary"); code != http.StatusOK {
		t.Fatalf("summary: %d %s", code, body)
	}
	if code, _ := e.get(t, tokenA, "/v1/users/u1/summary"); code != http.StatusTooManyRequests {
		t.Fatalf("third call of the token: %d, want 429", code)
	}
	if _, err := e.grpc.SearchEvents(context.Background(), &queryv1.SearchEventsRequest{UserId: "u1"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	var reply []byte
	err := e.conn.Invoke(context.Background(), "/"+queryv1.QueryService_ServiceDesc.ServiceName+"/NoSuchMethod", []byte{}, &reply, grpc.ForceCodec(rawCodec{}))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unknown method without a token: %v", err)
	}

	after := e.scrape(t)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"query_requests_total", []string{"method=SearchEvents", "transport=grpc", "code=OK"}, 1},
		{"query_requests_total", []string{"method=GetUserSummary", "transport=http", "code=OK"}, 1},
		{"query_requests_total", []string{"method=GetUserSummary", "transport=http", "code=ResourceExhausted"}, 1},
		{"query_requests_total", []string{"method=SearchEvents", "transport=grpc", "code=Unauthenticated"}, 1},
		{"query_requests_total", []string{"method=other", "transport=grpc", "code=Unauthenticated"}, 1},
		{"query_requests_total", nil, 5},
		{"query_request_duration_seconds_count", []string{"method=SearchEvents"}, 2},
		{"query_request_duration_seconds_count", []string{"method=GetUserSummary"}, 2},
		{"query_rate_limited_total", nil, 1},
	} {
		if got, _ := metric(after, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if v, _ := metric(after, "query_request_duration_seconds_sum", "method=SearchEvents"); v <= 0 {
		t.Errorf("SearchEvents latency sum %v, want > 0", v)
	}
	testenv.Eventually(t, 15*time.Second, "5 audit entries written", func() bool {
		v, _ := metric(e.scrape(t), "query_audit_entries_written_total")
		return v == 5
	})
	testenv.Eventually(t, 15*time.Second, expired+" deleted and counted", func() bool {
		v, _ := metric(e.scrape(t), "query_audit_indices_deleted_total")
		return v == 1
	})
	if testenv.Exists(t, osURL, "/"+expired) {
		t.Fatalf("%s counted as deleted but still there", expired)
	}

	proxy.Down()
	if _, err := e.grpc.GetUserSummary(authed(tokenAll), &queryv1.GetUserSummaryRequest{UserId: "u1"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("OpenSearch down: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, "the entry of the call made while OpenSearch is down counted as dropped", func() bool {
		v, _ := metric(e.scrape(t), "query_audit_entries_dropped_total", "reason=write_failed")
		return v == 1
	})
	if v, _ := metric(e.scrape(t), "query_requests_total", "method=GetUserSummary", "transport=grpc", "code=Unavailable"); v != 1 {
		t.Errorf("the call while OpenSearch is down counted %v times, want 1", v)
	}
}

// TestMetricsOnTheirOwnAddress: with QUERY_METRICS_ADDR, /metrics is served
// there and not on the public HTTP port (which a load balancer forwards to
// the internet); health is on both.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_METRICS_ADDR": "127.0.0.1:0"})
	if e.metrics == e.http {
		t.Fatal("no address of its own")
	}
	if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != 200 {
		t.Fatalf("a call: %d %s", code, body)
	}
	for _, tt := range []struct {
		url      string
		wantCode int
		want     string
	}{
		{e.metrics + "/metrics", 200, `query_requests_total{code="OK",method="SearchEvents",transport="http"} 1`},
		{e.http + "/metrics", 404, ""},
		{e.metrics + "/readyz", 200, `"opensearch":"ok"`},
		{e.http + "/readyz", 200, `"opensearch":"ok"`},
	} {
		code, b := testenv.Get(t, tt.url)
		if code != tt.wantCode || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: %d %.200s, want %d with %q", tt.url, code, b, tt.wantCode, tt.want)
		}
	}
}
