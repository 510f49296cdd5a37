// Package e2e runs the whole pipeline — ingest, enrich and query in this
// process, real NATS JetStream and a real OpenSearch node — and checks what a
// user of each end sees.
package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/integration/internal/stack"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// batchJSON is four events of the last hour: three of user-42's, newest last,
// and one of someone else's. base is the time of the first event.
func batchJSON(base time.Time) string {
	ts := func(d time.Duration) string { return base.Add(d).UTC().Format(time.RFC3339Nano) }
	return `[
 {"event_id":"evt-1","user_id":"user-42","session_id":"sess-1","event_name":"app_open","client_timestamp":"` + ts(0) + `","app_version":"3.1.0","device_os":"iOS 18.1","metadata":{"source":"push","cold_start":true},"message":"opened from a push"},
 {"event_id":"evt-2","user_id":"user-42","session_id":"sess-1","event_name":"add_to_cart","client_timestamp":"` + ts(5250*time.Millisecond) + `","app_version":"3.1.0","device_os":"iOS 18.1","metadata":{"sku":"A-17","qty":2,"note":"Gift wrap, please"}},
 {"event_id":"evt-3","user_id":"user-42","session_id":"sess-1","event_name":"checkout","client_timestamp":"` + ts(time.Minute) + `","app_version":"3.1.0","device_os":"iOS 18.1","os_name":"iOS","os_version":"18.1.1","device_model":"iPhone16,1","locale":"en-GB","timezone":"Europe/London","sdk_name":"evtrack-swift","sdk_version":"0.1.0"},
 {"event_id":"evt-4","user_id":"someone-else","event_name":"app_open","client_timestamp":"` + ts(2*time.Minute) + `"}
]`
}

func TestTrackedEventsAreSearchableOverHTTPAndGRPC(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := startStack(t, otelx.ForTest(tp))

	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	status, body := do(t, http.MethodPost, "http://"+s.IngestAddr+"/v1/track", "Bearer "+writeKey, batchJSON(base))
	if status != http.StatusAccepted || !strings.Contains(body, `"accepted":4`) {
		t.Fatalf("track: %d %s", status, body)
	}

	// Wait until the user's three events are searchable over HTTP. A daily
	// index created a moment ago answers 503 until its shard has started
	// (query says the store is unavailable): while polling, that is "not
	// yet".
	var httpPage queryv1.SearchEventsResponse
	testenv.EventuallyState(t, 30*time.Second, "user-42's three events searchable over HTTP", func() (bool, string) {
		status, body = do(t, http.MethodGet, s.QueryHTTP+"/v1/users/user-42/events", "Bearer "+readToken, "")
		if status == http.StatusServiceUnavailable {
			return false, fmt.Sprintf("%d %s", status, body)
		}
		if status != http.StatusOK {
			t.Fatalf("query: %d %s", status, body)
		}
		httpPage.Reset()
		if err := protojson.Unmarshal([]byte(body), &httpPage); err != nil {
			t.Fatalf("query body %s: %v", body, err)
		}
		return len(httpPage.Events) >= 3, body
	})
	if len(httpPage.Events) != 3 {
		t.Fatalf("user-42 has %d events over HTTP, want 3: %s", len(httpPage.Events), body)
	}
	if !strings.Contains(body, `"event_name"`) || strings.Contains(body, `"eventName"`) {
		t.Errorf("HTTP JSON field names must be snake_case: %s", body)
	}

	// Field by field, newest first.
	ios := func(e *telemetryv1.StoredEvent) *telemetryv1.StoredEvent {
		e.UserId, e.SessionId, e.AppVersion, e.DeviceOs = "user-42", "sess-1", "3.1.0", "iOS 18.1"
		e.OsName, e.OsVersion, e.UserAgent = "iOS", "18.1", "e2e-test/1.0 (iPhone15,2; iOS 18.0)"
		e.DeviceModel = "iPhone15,2"
		return e
	}
	want := []*telemetryv1.StoredEvent{
		// What the SDK sent about the device wins over the User-Agent's.
		func() *telemetryv1.StoredEvent {
			e := ios(&telemetryv1.StoredEvent{EventId: "evt-3", EventName: "checkout"})
			e.OsVersion, e.DeviceModel, e.Locale, e.Timezone, e.SdkName, e.SdkVersion = "18.1.1", "iPhone16,1", "en-GB", "Europe/London", "evtrack-swift", "0.1.0"
			return e
		}(),
		ios(&telemetryv1.StoredEvent{EventId: "evt-2", EventName: "add_to_cart", Metadata: map[string]string{"sku": "A-17", "qty": "2", "note": "Gift wrap, please"}}),
		ios(&telemetryv1.StoredEvent{EventId: "evt-1", EventName: "app_open",
			Metadata: map[string]string{"source": "push", "cold_start": "true"}, Message: "opened from a push"}),
	}
	wantTimes := []time.Time{base.Add(time.Minute), base.Add(5250 * time.Millisecond), base}
	for i, got := range httpPage.Events {
		w := proto.Clone(want[i]).(*telemetryv1.StoredEvent)
		w.AppId, w.Id = appID, eventdoc.ID(appID, w.EventId)
		if !got.Timestamp.AsTime().Equal(wantTimes[i]) || !got.ClientTimestamp.AsTime().Equal(wantTimes[i]) {
			t.Errorf("event %d: timestamp %v client_timestamp %v, want %v", i, got.Timestamp.AsTime(), got.ClientTimestamp.AsTime(), wantTimes[i])
		}
		if age := time.Since(got.ReceivedAt.AsTime()); age < 0 || age > time.Minute {
			t.Errorf("event %d: received_at %v", i, got.ReceivedAt.AsTime())
		}
		if got.IngestedAt.AsTime().Before(got.ReceivedAt.AsTime()) {
			t.Errorf("event %d: ingested_at %v before received_at %v", i, got.IngestedAt.AsTime(), got.ReceivedAt.AsTime())
		}
		w.Timestamp, w.ClientTimestamp, w.ReceivedAt, w.IngestedAt = got.Timestamp, got.ClientTimestamp, got.ReceivedAt, got.IngestedAt
		if !proto.Equal(got, w) {
			t.Errorf("event %d:\n got %v\nwant %v", i, got, w)
		}
	}
	if httpPage.NextPageToken != "" {
		t.Errorf("a complete page has a next_page_token")
	}
	// The SDK's fields are filters too.
	status, body = do(t, http.MethodGet, s.QueryHTTP+"/v1/users/user-42/events?locale=en-GB&sdk_version=0.1.0&device_model=iPhone16,1", "Bearer "+readToken, "")
	var filtered queryv1.SearchEventsResponse
	if err := protojson.Unmarshal([]byte(body), &filtered); status != http.StatusOK || err != nil || len(filtered.Events) != 1 || filtered.Events[0].EventId != "evt-3" {
		t.Errorf("filtered by locale, sdk_version and device_model: %d %s", status, body)
	}

	// q finds a word inside a metadata value, as enrich indexed it (a
	// flat_object alone matches whole values only).
	status, body = do(t, http.MethodGet, s.QueryHTTP+"/v1/users/user-42/events?q=wrap", "Bearer "+readToken, "")
	var words queryv1.SearchEventsResponse
	if err := protojson.Unmarshal([]byte(body), &words); status != http.StatusOK || err != nil || len(words.Events) != 1 || words.Events[0].EventId != "evt-2" {
		t.Errorf("q=wrap (a word of evt-2's metadata value): %d %s", status, body)
	}

	// Accounting by distinct ids over every daily index: each of the four
	// events exactly once, someone-else's included.
	perEvent := map[string]int64{}
	err := loadgen.ScanEventIDs(context.Background(), testenv.OpenSearch(t, s.OpenSearchURL), eventdoc.Pattern(s.Prefix), "evt-",
		func(app, id string, docs int64) { perEvent[app+"/"+id] += docs })
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{appID + "/evt-1": 1, appID + "/evt-2": 1, appID + "/evt-3": 1, appID + "/evt-4": 1}; !maps.Equal(perEvent, want) {
		t.Errorf("documents per (app_id, event_id): %v, want %v", perEvent, want)
	}

	// gRPC gives the same answer.
	client := queryClient(t, s.QueryGRPC)
	grpcPage, err := client.SearchEvents(authCtx(readToken), &queryv1.SearchEventsRequest{UserId: "user-42"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(grpcPage, &httpPage) {
		t.Errorf("gRPC and HTTP differ:\n grpc %v\n http %v", grpcPage, &httpPage)
	}

	// Paging: 2 + 1, no repeats, same order.
	p1, err := client.SearchEvents(authCtx(readToken), &queryv1.SearchEventsRequest{UserId: "user-42", PageSize: 2})
	if err != nil || len(p1.Events) != 2 || p1.NextPageToken == "" {
		t.Fatalf("page 1: %v %v", p1, err)
	}
	status, body = do(t, http.MethodGet, s.QueryHTTP+"/v1/users/user-42/events?page_size=2&page_token="+p1.NextPageToken, "Bearer "+readToken, "")
	var p2 queryv1.SearchEventsResponse
	if status != 200 || protojson.Unmarshal([]byte(body), &p2) != nil || len(p2.Events) != 1 || p2.NextPageToken != "" {
		t.Fatalf("page 2: %d %s", status, body)
	}
	if got := []string{p1.Events[0].EventId, p1.Events[1].EventId, p2.Events[0].EventId}; strings.Join(got, ",") != "evt-3,evt-2,evt-1" {
		t.Fatalf("paged order %v", got)
	}
	// A page token is bound to its query.
	status, body = do(t, http.MethodGet, s.QueryHTTP+"/v1/users/someone-else/events?page_token="+p1.NextPageToken, "Bearer "+readToken, "")
	if status != http.StatusBadRequest || !strings.Contains(body, "page_token") {
		t.Errorf("token reused for another user: %d %s", status, body)
	}

	t.Run("access", func(t *testing.T) { checkAccess(t, s, client) })
	t.Run("one trace from ingest to the bulk call", func(t *testing.T) { checkTrace(t, rec) })
}

func checkAccess(t *testing.T, s *stack.Pipeline, client queryv1.QueryServiceClient) {
	tests := []struct {
		name       string
		auth, path string
		wantStatus int
		wantCode   codes.Code
		req        *queryv1.SearchEventsRequest
		grpcToken  string
	}{
		{"no token", "", "/v1/users/user-42/events", 401, codes.Unauthenticated, &queryv1.SearchEventsRequest{UserId: "user-42"}, ""},
		{"unknown token", "Bearer not-a-real-token-000000", "/v1/users/user-42/events", 401, codes.Unauthenticated, &queryv1.SearchEventsRequest{UserId: "user-42"}, "not-a-real-token-000000"},
		{"app outside scope", "Bearer " + otherRead, "/v1/users/user-42/events?app_id=" + appID, 403, codes.PermissionDenied, &queryv1.SearchEventsRequest{UserId: "user-42", AppId: appID}, otherRead},
		{"bad page size", "Bearer " + readToken, "/v1/users/user-42/events?page_size=5000", 400, codes.InvalidArgument, &queryv1.SearchEventsRequest{UserId: "user-42", PageSize: 5000}, readToken},
		{"bad page token", "Bearer " + readToken, "/v1/users/user-42/events?page_token=abc.def", 400, codes.InvalidArgument, &queryv1.SearchEventsRequest{UserId: "user-42", PageToken: "abc.def"}, readToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, http.MethodGet, s.QueryHTTP+tt.path, tt.auth, "")
			if status != tt.wantStatus {
				t.Errorf("HTTP %d %s, want %d", status, body, tt.wantStatus)
			}
			ctx := context.Background()
			if tt.grpcToken != "" {
				ctx = authCtx(tt.grpcToken)
			}
			_, err := client.SearchEvents(ctx, tt.req)
			if got := statusCode(err); got != tt.wantCode {
				t.Errorf("gRPC %v, want %v", err, tt.wantCode)
			}
		})
	}
	// A token scoped to another app sees none of this app's events.
	res, err := client.SearchEvents(authCtx(otherRead), &queryv1.SearchEventsRequest{UserId: "user-42"})
	if err != nil || len(res.Events) != 0 {
		t.Errorf("other app's token saw %v (%v)", res, err)
	}
}

// checkTrace finds the ingest's HTTP span and requires the publish, the
// enrich processing, the bulk and the OpenSearch HTTP call to be in its trace.
func checkTrace(t *testing.T, rec *tracetest.SpanRecorder) {
	want := []string{"POST /v1/track", "publish ", "process ", "opensearch bulk", "opensearch POST /_bulk"}
	testenv.EventuallyState(t, 10*time.Second, fmt.Sprintf("spans %q in the trace of the ingest's HTTP span", want), func() (bool, string) {
		spans := rec.Ended()
		var ingestTrace trace.TraceID
		for _, s := range spans {
			if s.Name() == "POST /v1/track" {
				ingestTrace = s.SpanContext().TraceID()
			}
		}
		var inTrace []string
		for _, s := range spans {
			if ingestTrace.IsValid() && s.SpanContext().TraceID() == ingestTrace {
				inTrace = append(inTrace, s.Name())
			}
		}
		var missing []string
		for _, prefix := range want {
			if !slices.ContainsFunc(inTrace, func(n string) bool { return strings.HasPrefix(n, prefix) }) {
				missing = append(missing, prefix)
			}
		}
		return len(missing) == 0, fmt.Sprintf("trace %s lacks spans %q; it has %q", ingestTrace, missing, inTrace)
	})
}

func do(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "e2e-test/1.0 (iPhone15,2; iOS 18.0)")
	code, b := testenv.Send(t, req)
	return code, string(b)
}

func queryClient(t *testing.T, addr string) queryv1.QueryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return queryv1.NewQueryServiceClient(conn)
}

func authCtx(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func statusCode(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	return status.Code(err)
}
