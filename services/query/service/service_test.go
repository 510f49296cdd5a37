package service

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// expect lists the fixtures matching pred in the API's order: newest first,
// then by document id, descending.
func expect(pred func(f fixture) bool) []string {
	var fs []fixture
	for _, f := range fixtures {
		if pred(f) {
			fs = append(fs, f)
		}
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].at != fs[j].at {
			return fs[i].at > fs[j].at
		}
		return eventdoc.ID(fs[i].app, fs[i].id) > eventdoc.ID(fs[j].app, fs[j].id)
	})
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.app + "/" + f.id
	}
	return out
}

func ids(res *queryv1.SearchEventsResponse) []string {
	out := make([]string, len(res.GetEvents()))
	for i, e := range res.GetEvents() {
		out[i] = e.AppId + "/" + e.EventId
	}
	return out
}

func rfc(d time.Duration) string { return base.Add(d).Format(time.RFC3339) }

// TestSearchFilters: each filter alone and combined, over gRPC and HTTP,
// which must agree exactly.
func TestSearchFilters(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	tests := []struct {
		name  string
		token string
		query string // HTTP query string for /v1/events
		req   *queryv1.SearchEventsRequest
		want  []string
	}{
		{"user across apps", tokenAll, "user_id=u1", &queryv1.SearchEventsRequest{UserId: "u1"},
			expect(func(f fixture) bool { return f.user == "u1" })},
		{"token scope narrows to its app", tokenA, "user_id=u1", &queryv1.SearchEventsRequest{UserId: "u1"},
			expect(func(f fixture) bool { return f.user == "u1" && f.app == "app-a" })},
		{"app", tokenAll, "app_id=app-b", &queryv1.SearchEventsRequest{AppId: "app-b"},
			expect(func(f fixture) bool { return f.app == "app-b" })},
		{"anonymous id", tokenAll, "anonymous_id=anon-1", &queryv1.SearchEventsRequest{AnonymousId: "anon-1"},
			expect(func(f fixture) bool { return f.anon == "anon-1" })},
		{"session", tokenAll, "session_id=s2", &queryv1.SearchEventsRequest{SessionId: "s2"},
			expect(func(f fixture) bool { return f.session == "s2" })},
		{"several event names", tokenAll, "event_name=tap&event_name=purchase", &queryv1.SearchEventsRequest{EventName: []string{"tap", "purchase"}},
			expect(func(f fixture) bool { return f.name == "tap" || f.name == "purchase" })},
		{"app version", tokenAll, "app_version=4.3.0", &queryv1.SearchEventsRequest{AppVersion: "4.3.0"},
			expect(func(f fixture) bool { return f.version == "4.3.0" })},
		{"device os, normalised", tokenAll, "device_os=Android", &queryv1.SearchEventsRequest{DeviceOs: "Android"},
			expect(func(f fixture) bool { return f.osName == "Android" })},
		{"device os as sent", tokenAll, "device_os=" + url.QueryEscape("iOS 17.0"), &queryv1.SearchEventsRequest{DeviceOs: "iOS 17.0"},
			expect(func(f fixture) bool { return f.os == "iOS 17.0" })},
		{"country", tokenAll, "country=GB", &queryv1.SearchEventsRequest{Country: "GB"},
			expect(func(f fixture) bool { return f.country == "GB" })},
		{"time range [from, to)", tokenAll, "from=" + url.QueryEscape(rfc(30*time.Minute)) + "&to=" + url.QueryEscape(rfc(70*time.Minute)),
			&queryv1.SearchEventsRequest{From: timestamppb.New(base.Add(30 * time.Minute)), To: timestamppb.New(base.Add(70 * time.Minute))},
			expect(func(f fixture) bool { return f.at >= 30*time.Minute && f.at < 70*time.Minute })},
		{"time range bounds between milliseconds (stored times are whole ms)", tokenAll,
			"from=" + url.QueryEscape(base.Add(30*time.Minute+500*time.Microsecond).Format(time.RFC3339Nano)) +
				"&to=" + url.QueryEscape(base.Add(70*time.Minute+500*time.Microsecond).Format(time.RFC3339Nano)),
			&queryv1.SearchEventsRequest{From: timestamppb.New(base.Add(30*time.Minute + 500*time.Microsecond)),
				To: timestamppb.New(base.Add(70*time.Minute + 500*time.Microsecond))},
			expect(func(f fixture) bool { return f.at > 30*time.Minute && f.at <= 70*time.Minute })},
		{"full text word", tokenAll, "q=bicycle", &queryv1.SearchEventsRequest{Q: "bicycle"},
			expect(func(f fixture) bool { return f.name == "purchase" })},
		{"full text phrase", tokenAll, "q=" + url.QueryEscape(`"null pointer"`), &queryv1.SearchEventsRequest{Q: `"null pointer"`},
			expect(func(f fixture) bool { return f.name == "crash" })},
		{"full text or", tokenAll, "q=" + url.QueryEscape("crashed | bicycle"), &queryv1.SearchEventsRequest{Q: "crashed | bicycle"},
			expect(func(f fixture) bool { return f.name == "crash" || f.name == "purchase" })},
		{"full text over metadata values", tokenAll, "q=BIKE-RED", &queryv1.SearchEventsRequest{Q: "BIKE-RED"},
			expect(func(f fixture) bool { return f.name == "purchase" })},
		// A flat_object matches whole values only: before metadata_text,
		// a word or phrase inside a value found nothing.
		{"full text word inside a metadata value", tokenAll, "q=gift", &queryv1.SearchEventsRequest{Q: "gift"},
			expect(func(f fixture) bool { return f.name == "purchase" })},
		{"full text phrase inside a metadata value, any case", tokenAll, "q=" + url.QueryEscape(`"Gift Card"`), &queryv1.SearchEventsRequest{Q: `"Gift Card"`},
			expect(func(f fixture) bool { return f.name == "purchase" })},
		{"full text words of a message and of a metadata value", tokenAll, "q=" + url.QueryEscape("bicycle anna"), &queryv1.SearchEventsRequest{Q: "bicycle anna"},
			expect(func(f fixture) bool { return f.name == "purchase" })},
		{"full text not", tokenA, "user_id=u1&q=" + url.QueryEscape("screen -opened"), &queryv1.SearchEventsRequest{UserId: "u1", Q: "screen -opened"},
			nil},
		{"combined", tokenAll, "user_id=u1&session_id=s1&event_name=screen_view&from=" + url.QueryEscape(rfc(15*time.Minute)),
			&queryv1.SearchEventsRequest{UserId: "u1", SessionId: "s1", EventName: []string{"screen_view"}, From: timestamppb.New(base.Add(15 * time.Minute))},
			expect(func(f fixture) bool {
				return f.user == "u1" && f.session == "s1" && f.name == "screen_view" && f.at >= 15*time.Minute
			})},
		{"user path", tokenA, "", &queryv1.SearchEventsRequest{UserId: "u2"}, expect(func(f fixture) bool { return f.user == "u2" })},
		{"token for an app without data", tokenC, "user_id=u1", &queryv1.SearchEventsRequest{UserId: "u1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				tt.want = []string{}
			}
			g, err := e.grpc.SearchEvents(authed(tt.token), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(g); !slices.Equal(got, tt.want) {
				t.Errorf("gRPC:\n got %v\nwant %v", got, tt.want)
			}
			path := "/v1/events?" + tt.query
			if tt.name == "user path" {
				path = "/v1/users/u2/events"
			}
			code, body := e.get(t, tt.token, path)
			var h queryv1.SearchEventsResponse
			if code != 200 || protojson.Unmarshal(body, &h) != nil {
				t.Fatalf("HTTP %d %s", code, body)
			}
			if !proto.Equal(&h, g) {
				t.Errorf("HTTP and gRPC differ:\nhttp %v\ngrpc %v", &h, g)
			}
		})
	}
}

// TestPagingWhileEventsArrive pages through a user's history 3 at a time
// while newer and older events keep being indexed: no page repeats an event
// and every event that existed at the start is seen, in order.
func TestPagingWhileEventsArrive(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	want := expect(func(f fixture) bool { return f.user == "u1" && f.app == "app-a" })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writeErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			newer := fixture{app: "app-a", id: "late-new-" + itoa(i), user: "u1", session: "s1", name: "tap", at: 24*time.Hour + time.Duration(i)*time.Second}
			same := fixture{app: "app-a", id: "late-tie-" + itoa(i), user: "u1", session: "s1", name: "tap", at: 50 * time.Minute}
			if err := indexDocs(e.osURL, e.prefix, newer.source(), same.source()); err != nil {
				writeErr <- err
				return
			}
			time.Sleep(20 * time.Millisecond) // pacing: writes interleave with the page reads
		}
	}()
	var seen []string
	token := ""
	for page := 0; page < 100; page++ {
		res, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u1", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(res)...)
		if token = res.NextPageToken; token == "" {
			break
		}
		time.Sleep(30 * time.Millisecond) // pacing: the writer adds documents between two pages
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-writeErr:
		t.Fatalf("writer: %v", err)
	default:
	}
	dup := map[string]bool{}
	for _, id := range seen {
		if dup[id] {
			t.Fatalf("event %s on two pages", id)
		}
		dup[id] = true
	}
	var original []string
	for _, id := range seen {
		if !strings.Contains(id, "/late-") {
			original = append(original, id)
		}
	}
	if !slices.Equal(original, want) {
		t.Fatalf("paged through\n%v\nwant (in order)\n%v", original, want)
	}
}

func TestGetEvent(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	tests := []struct {
		name, token, eventID, appID string
		wantCode                    codes.Code
		wantHTTP                    int
		wantApp                     string
	}{
		{"found", tokenA, "a-u1-08", "", codes.OK, 200, "app-a"},
		{"not found", tokenA, "nope", "", codes.NotFound, 404, ""},
		{"other app's event is not found", tokenA, "b-u1-0", "", codes.NotFound, 404, ""},
		{"same id in two readable apps", tokenAll, "shared-1", "", codes.InvalidArgument, 400, ""},
		{"disambiguated", tokenAll, "shared-1", "app-b", codes.OK, 200, "app-b"},
		{"scoped token sees its app's copy", tokenA, "shared-1", "", codes.OK, 200, "app-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.grpc.GetEvent(authed(tt.token), &queryv1.GetEventRequest{EventId: tt.eventID, AppId: tt.appID})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("gRPC %v, want %v", err, tt.wantCode)
			}
			path := "/v1/events/" + tt.eventID
			if tt.appID != "" {
				path += "?app_id=" + tt.appID
			}
			code, body := e.get(t, tt.token, path)
			if code != tt.wantHTTP {
				t.Fatalf("HTTP %d %s", code, body)
			}
			if err == nil {
				var h queryv1.GetEventResponse
				if protojson.Unmarshal(body, &h) != nil || !proto.Equal(&h, res) || res.Event.AppId != tt.wantApp || res.Event.EventId != tt.eventID {
					t.Fatalf("HTTP %s, gRPC %v", body, res)
				}
			}
		})
	}
}

func count(v string, n int64) *queryv1.Count { return &queryv1.Count{Value: v, Count: n} }

func TestUserSummary(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	want := &queryv1.GetUserSummaryResponse{
		UserId: "u1", EventCount: 10, SessionCount: 2,
		FirstSeen: timestamppb.New(base), LastSeen: timestamppb.New(base.Add(90 * time.Minute)),
		TopEventNames: []*queryv1.Count{count("screen_view", 5), count("tap", 3), count("crash", 1), count("purchase", 1)},
		OsVersions:    []*queryv1.Count{count("iOS 18.1", 10)},
		AppVersions:   []*queryv1.Count{count("4.2.0", 6), count("4.3.0", 4)},
		Countries:     []*queryv1.Count{count("GB", 10)},
		Apps:          []*queryv1.Count{count("app-a", 10)},
	}
	got, err := e.grpc.GetUserSummary(authed(tokenA), &queryv1.GetUserSummaryRequest{UserId: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("summary\n got %v\nwant %v", got, want)
	}
	code, body := e.get(t, tokenA, "/v1/users/u1/summary")
	var h queryv1.GetUserSummaryResponse
	if code != 200 || protojson.Unmarshal(body, &h) != nil || !proto.Equal(&h, got) {
		t.Fatalf("HTTP %d %s", code, body)
	}
	all, err := e.grpc.GetUserSummary(authed(tokenAll), &queryv1.GetUserSummaryRequest{UserId: "u1"})
	if err != nil || all.EventCount != 12 || len(all.Apps) != 2 || all.SessionCount != 3 {
		t.Fatalf("all apps: %v %v", all, err)
	}
}

func TestEventStats(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	req := &queryv1.EventStatsRequest{From: timestamppb.New(base), To: timestamppb.New(base.Add(2 * time.Hour)), Interval: "1h"}
	got, err := e.grpc.EventStats(authed(tokenA), req)
	if err != nil {
		t.Fatal(err)
	}
	// Hand-counted: 10:00-11:00 u1 ×6, u2 ×3, anon ×1; 11:00-12:00 u1 ×4, anon ×1.
	want := &queryv1.EventStatsResponse{Total: 15, Interval: "1h",
		Buckets:       []*queryv1.Bucket{{Start: timestamppb.New(base), Count: 10}, {Start: timestamppb.New(base.Add(time.Hour)), Count: 5}},
		TopEventNames: []*queryv1.Count{count("tap", 6), count("screen_view", 5), count("app_open", 2), count("crash", 1), count("purchase", 1)},
	}
	if !proto.Equal(got, want) {
		t.Fatalf("stats\n got %v\nwant %v", got, want)
	}
	code, body := e.get(t, tokenA, "/v1/stats/events?interval=1h&from="+url.QueryEscape(rfc(0))+"&to="+url.QueryEscape(rfc(2*time.Hour)))
	var h queryv1.EventStatsResponse
	if code != 200 || protojson.Unmarshal(body, &h) != nil || !proto.Equal(&h, got) {
		t.Fatalf("HTTP %d %s", code, body)
	}
	byName, err := e.grpc.EventStats(authed(tokenA), &queryv1.EventStatsRequest{EventName: []string{"tap"}, Interval: "1d", Top: 1})
	if err != nil || byName.Total != 6 || len(byName.TopEventNames) != 1 {
		t.Fatalf("filtered stats %v %v", byName, err)
	}
}

// TestAccessAndBadInput: every refusal, over both faces.
func TestAccessAndBadInput(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	tests := []struct {
		name     string
		token    string
		path     string
		call     func(ctx context.Context) error
		wantHTTP int
		wantCode codes.Code
		wantText string
	}{
		{"no token", "", "/v1/users/u1/events", func(ctx context.Context) error {
			_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{UserId: "u1"})
			return err
		}, 401, codes.Unauthenticated, "read token"},
		{"unknown token", "token-nobody-0123456789", "/v1/users/u1/summary", func(ctx context.Context) error {
			_, err := e.grpc.GetUserSummary(ctx, &queryv1.GetUserSummaryRequest{UserId: "u1"})
			return err
		}, 401, codes.Unauthenticated, "unknown read token"},
		{"app outside the token's scope", tokenA, "/v1/events?app_id=app-b", func(ctx context.Context) error {
			_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{AppId: "app-b"})
			return err
		}, 403, codes.PermissionDenied, "app_id"},
		{"bad page token", tokenA, "/v1/events?page_token=eyJ0IjoxfQ.AAAA", func(ctx context.Context) error {
			_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{PageToken: "eyJ0IjoxfQ.AAAA"})
			return err
		}, 400, codes.InvalidArgument, "page_token"},
		{"page size too big", tokenA, "/v1/events?page_size=1001", func(ctx context.Context) error {
			_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{PageSize: 1001})
			return err
		}, 400, codes.InvalidArgument, "page_size"},
		{"from after to", tokenA, "/v1/events?from=" + url.QueryEscape(rfc(time.Hour)) + "&to=" + url.QueryEscape(rfc(0)), func(ctx context.Context) error {
			_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{From: timestamppb.New(base.Add(time.Hour)), To: timestamppb.New(base)})
			return err
		}, 400, codes.InvalidArgument, "from"},
		{"q too long", tokenA, "/v1/events?q=" + strings.Repeat("a", 10240), func(ctx context.Context) error {
			_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{Q: strings.Repeat("a", 10240)})
			return err
		}, 400, codes.InvalidArgument, "q"},
		{"bad interval", tokenA, "/v1/stats/events?interval=7m", func(ctx context.Context) error {
			_, err := e.grpc.EventStats(ctx, &queryv1.EventStatsRequest{Interval: "7m"})
			return err
		}, 400, codes.InvalidArgument, "interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.get(t, tt.token, tt.path)
			if code != tt.wantHTTP || !strings.Contains(string(body), tt.wantText) {
				t.Errorf("HTTP %d %s, want %d mentioning %q", code, body, tt.wantHTTP, tt.wantText)
			}
			ctx := context.Background()
			if tt.token != "" {
				ctx = authed(tt.token)
			}
			if err := tt.call(ctx); status.Code(err) != tt.wantCode || !strings.Contains(status.Convert(err).Message(), tt.wantText) {
				t.Errorf("gRPC %v, want %v mentioning %q", err, tt.wantCode, tt.wantText)
			}
		})
	}
	t.Run("bad time format", func(t *testing.T) {
		code, body := e.get(t, tokenA, "/v1/events?from=yesterday")
		if code != 400 {
			t.Fatalf("HTTP %d %s", code, body)
		}
	})
	// The gateway skipped parameters it did not know, so a misspelt filter
	// searched everything the token may read: ?userid=u2 answered every
	// app-a event, not u2's.
	t.Run("unknown or doubled parameters", func(t *testing.T) {
		for _, tt := range []struct{ path, want string }{
			{"/v1/events?userid=u2", `parameter \"userid\": not a parameter of this call`},
			{"/v1/users/u1/events?event=crash", `parameter \"event\": not a parameter of this call`},
			{"/v1/users/u1/events?user_id=u2", `parameter \"user_id\": given by the path already`},
			{"/v1/users/u1/events?userId=u2", `parameter \"userId\": given by the path already`},
			{"/v1/events?metadata[k]=v", `not a parameter of this call`},
			{"/v1/stats/events?page_size=5", `parameter \"page_size\": not a parameter of this call`},
		} {
			if code, body := e.get(t, tokenA, tt.path); code != 400 || !strings.Contains(string(body), tt.want) {
				t.Errorf("%s: HTTP %d %s, want 400 with %s", tt.path, code, body, tt.want)
			}
		}
		// Both spellings of a field stay accepted.
		for _, path := range []string{"/v1/events?user_id=u1", "/v1/events?userId=u1&pageSize=2"} {
			if code, body := e.get(t, tokenA, path); code != 200 {
				t.Errorf("%s: HTTP %d %s", path, code, body)
			}
		}
	})
	t.Run("time outside a timestamp's range, over gRPC", func(t *testing.T) {
		// 1e16 s: its epoch milliseconds would wrap to a negative number.
		_, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{From: &timestamppb.Timestamp{Seconds: 1e16}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "from") {
			t.Fatalf("gRPC %v, want INVALID_ARGUMENT naming from", err)
		}
	})
	t.Run("no stack trace or store error text", func(t *testing.T) {
		_, body := e.get(t, tokenA, "/v1/events?q="+strings.Repeat("a", 10240))
		for _, leak := range []string{"goroutine", "opensearch", "exception", ".go:"} {
			if strings.Contains(strings.ToLower(string(body)), leak) {
				t.Errorf("error body leaks %q: %s", leak, body)
			}
		}
	})
}

// TestHostileQueries: query text and filter values that look like DSL,
// escapes or garbage are values, never syntax: no error, no data from
// outside the filters.
func TestHostileQueries(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	hostile := []string{
		`"`, `\`, `\"`, `*`, `"unterminated`, `((((`, `)`, `+-|`, `~1`, `a^100`,
		`{"match_all":{}}`, `"}}],"must":[{"match_all":{}}]}}`, `user_id:u2`, `_exists_:user_id`,
		`<script>alert(1)</script>`, "\u0000\u001f", `OR 1=1 --`, strings.Repeat(`\"`, 500),
	}
	for _, q := range hostile {
		res, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u1", Q: q})
		if err != nil {
			t.Errorf("q %q: %v", q, err)
			continue
		}
		for _, ev := range res.Events {
			if ev.UserId != "u1" || ev.AppId != "app-a" {
				t.Errorf("q %q escaped the filters: %v", q, ev)
			}
		}
		code, body := e.get(t, tokenA, "/v1/users/u1/events?q="+url.QueryEscape(q))
		if code != 200 {
			t.Errorf("HTTP q %q: %d %s", q, code, body)
		}
	}
	for _, v := range []string{`u1" OR "1"="1`, `*`, `u\1`, `{"term":{"app_id":"app-b"}}`} {
		res, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: v})
		if err != nil || len(res.Events) != 0 {
			t.Errorf("user_id %q: %v %v", v, res, err)
		}
	}
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	if _, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u2"}); err != nil {
		t.Fatal(err)
	}
	e.get(t, tokenA, "/v1/users/u1/summary")
	e.get(t, tokenA, "/v1/events?app_id=app-b") // refused: audited too
	hits := waitAuditHits(t, e.osURL, e.prefix, 3)
	if len(hits) != 3 {
		t.Fatalf("audit entries %v", hits)
	}
	first, _ := hits[0]["filters"].(map[string]any)
	if hits[0]["method"] != "SearchEvents" || hits[0]["transport"] != "grpc" || hits[0]["results"] != 3.0 || first["user_id"] != "u2" ||
		!strings.HasPrefix(hits[0]["principal"].(string), "token-") || strings.Contains(hits[0]["principal"].(string), tokenA) {
		t.Errorf("search entry %v", hits[0])
	}
	if hits[1]["method"] != "GetUserSummary" || hits[1]["transport"] != "http" || hits[1]["results"] != 10.0 {
		t.Errorf("summary entry %v", hits[1])
	}
	if hits[2]["status"] != "PermissionDenied" {
		t.Errorf("refused entry %v", hits[2])
	}
	for _, h := range hits {
		at, err := time.Parse(time.RFC3339Nano, h["time"].(string))
		if want := eventdoc.AuditIndex(e.prefix, at); err != nil || h["_index"] != want {
			t.Errorf("entry at %v in %v, want the daily index %s", h["time"], h["_index"], want)
		}
	}
}

func TestCORSAndRateLimit(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_CORS_ORIGINS": "https://support.example.com", "QUERY_RATE_LIMIT_PER_SEC": "0.1", "QUERY_RATE_LIMIT_BURST": "2"})
	req, _ := http.NewRequest(http.MethodOptions, e.http+"/v1/users/u1/events", nil)
	req.Header.Set("Origin", "https://support.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://support.example.com" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight %d %v", res.StatusCode, res.Header)
	}
	req.Header.Set("Origin", "https://evil.example.com")
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unknown origin allowed: %v", res.Header)
	}
	for i, want := range []int{200, 200, 429} {
		if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != want {
			t.Fatalf("call %d: %d %s, want %d", i+1, code, body, want)
		}
	}
	// Another token has its own bucket.
	if code, _ := e.get(t, tokenAll, "/v1/users/u1/events"); code != 200 {
		t.Fatalf("other token limited: %d", code)
	}
}

func TestOpenSearchUnreachable(t *testing.T) {
	t.Parallel()
	proxy := testenv.NewProxy(t, strings.TrimPrefix(testenv.OpenSearchURL(t), "http://"))
	e := startQuery(t, map[string]string{"OPENSEARCH_URL": "http://" + proxy.Addr()})
	if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != 200 {
		t.Fatalf("before: %d %s", code, body)
	}
	proxy.Down()
	code, body := e.get(t, tokenA, "/v1/users/u1/events")
	if code != http.StatusServiceUnavailable || strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") {
		t.Fatalf("during: %d %s (want 503 without transport details)", code, body)
	}
	if _, err := e.grpc.GetUserSummary(authed(tokenA), &queryv1.GetUserSummaryRequest{UserId: "u1"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC during: %v", err)
	}
	proxy.Up()
	if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != 200 {
		t.Fatalf("after: %d %s", code, body)
	}
}

// TestShardMissingIsUnavailable: through a real OpenSearch, a daily index
// whose shard cannot start (allocated to no node) makes every search of the
// prefix answer 200 from the other shards only (the missing one counted in
// the total, neither successful nor failed); the service answers 503 /
// Unavailable instead of a page (and a page token) missing that index's
// events, and a 404 for an event that may be in it.
func TestShardMissingIsUnavailable(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != 200 {
		t.Fatalf("before: %d %s", code, body)
	}
	testenv.PutJSON(t, e.osURL, "/"+e.prefix+"-2026.11.01?wait_for_active_shards=0",
		`{"settings":{"index.routing.allocation.require._name":"no-such-node"}}`)
	// The fault struck: OpenSearch itself answers 200 with a shard that
	// answered neither way (it counts it in the total only).
	var shards struct {
		Shards struct{ Total, Successful, Skipped, Failed int } `json:"_shards"`
	}
	if err := json.Unmarshal(testenv.Do(t, e.osURL, http.MethodPost, "/"+e.prefix+"-*/_search?ignore_unavailable=true&allow_no_indices=true", `{"size":1}`), &shards); err != nil ||
		shards.Shards.Successful+shards.Shards.Skipped >= shards.Shards.Total {
		t.Fatalf("OpenSearch answered %+v, %v: want a shard that did not answer", shards, err)
	}
	for _, path := range []string{"/v1/users/u1/events", "/v1/events/e1", "/v1/users/u1/summary"} {
		if code, body := e.get(t, tokenA, path); code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d %s, want 503", path, code, body)
		}
	}
	if _, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u1"}); status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC: %v, want Unavailable", err)
	}
}
