// Package dashboards runs the analysts' saved objects (opensearch/dashboards)
// against a real OpenSearch node: every visualization's aggregation and every
// saved search, translated into the search request Dashboards sends, over
// fixture documents indexed through the real index templates, must return
// the rows counted by hand below.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/dashboards"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
)

// Days of the fixture: D1 and D2 are the Monday and Tuesday of one week,
// D3 the Monday of the next.
var (
	d1 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	d2 = time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	d3 = time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
)

func at(day time.Time, hhmmss string) time.Time {
	t, err := time.Parse("15:04:05", hhmmss)
	if err != nil {
		panic(err)
	}
	return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
}

// event is one fixture event; empty strings are absent fields.
type event struct {
	id                         string
	ts                         time.Time // timestamp
	user, anon, session, name  string
	version, osName, osVersion string
	country                    string
	skewed, clamped            bool
	received, ingested         time.Time
	bot, botName               string
}

// events, by day (error-named: e4 PaymentError, e7 app_crash, e11
// NullPointerException; skewed: e3, e7, e11; clamped: e7):
//
//	id   day time   user anon session name                  version os          country
//	e1   D1  10:00  u1   -    s1      app_open              1.0.0   iOS 17.5    DE
//	e2   D1  10:01  u1   -    s1      checkout_completed    1.0.0   iOS 17.5    DE
//	e3   D1  11:00  u2   -    s2      app_open              1.1.0   iOS 18.1    FR  skewed
//	e4   D1  11:05  u2   -    s2      PaymentError          1.1.0   iOS 18.1    FR
//	e5   D1  12:00  -    a1   s3      app_open              1.1.0   Android 14  DE
//	e6   D2  09:00  u1   -    s4      app_open              1.1.0   iOS 17.5    DE
//	e7   D2  09:30  u3   -    s5      app_crash             1.1.0   Android 14  US  skewed, clamped
//	e8   D2  09:20  -    a1   s6      screen_view           1.1.0   Android 14  DE
//	e9   D2  09:30  -    a2   s7      app_open              1.0.0   iOS 17.5    US
//	e10  D3  08:00  u2   -    s8      app_open              2.0.0   iOS 18.1    FR
//	e11  D3  08:05  u2   -    s8      NullPointerException  2.0.0   iOS 18.1    FR  skewed
//	e12  D3  08:10  u3   -    s9      screen_view           2.0.0   Android 14  US
//	e13  D3  08:15  u4   a3   s10     app_open              2.0.0   Android 15  GB
//	e14  D2  09:10  u2   -    s11     app_crash             1.1.0   iOS 18.1    US  skewed; a bot (crawler, Googlebot)
//
// e14 is a bot's: every view excludes it by default except the User
// timeline (a user's whole history) and the two pipeline-throughput panels,
// so the hand counts below leave it out of everything else.
// Received (ingest) and indexed (enrich) times: e1–e5 received on D1 in
// minute 12:00 and indexed in minute 12:00; e6–e9 received on D2 in minute
// 09:30 and indexed in minute 09:31; e10–e12 received and indexed on D3 in
// minute 08:15, e13 in minute 08:16.
func fixtureEvents() []event {
	r1 := func(i int) (time.Time, time.Time) {
		return at(d1, fmt.Sprintf("12:00:%02d", 20+i)), at(d1, fmt.Sprintf("12:00:%02d", 30+i))
	}
	r2 := func(i int) (time.Time, time.Time) {
		return at(d2, fmt.Sprintf("09:30:%02d", 50+i)), at(d2, fmt.Sprintf("09:31:%02d", i))
	}
	r3 := func(i int) (time.Time, time.Time) {
		return at(d3, fmt.Sprintf("08:15:%02d", i)), at(d3, fmt.Sprintf("08:15:%02d", 10+i))
	}
	e := func(id string, ts time.Time, user, anon, session, name, version, osName, osVersion, country string, rec func(int) (time.Time, time.Time), i int) event {
		received, ingested := rec(i)
		return event{id: id, ts: ts, user: user, anon: anon, session: session, name: name, version: version,
			osName: osName, osVersion: osVersion, country: country, received: received, ingested: ingested}
	}
	evs := []event{
		e("e1", at(d1, "10:00:00"), "u1", "", "s1", "app_open", "1.0.0", "iOS", "17.5", "DE", r1, 0),
		e("e2", at(d1, "10:01:00"), "u1", "", "s1", "checkout_completed", "1.0.0", "iOS", "17.5", "DE", r1, 1),
		e("e3", at(d1, "11:00:00"), "u2", "", "s2", "app_open", "1.1.0", "iOS", "18.1", "FR", r1, 2),
		e("e4", at(d1, "11:05:00"), "u2", "", "s2", "PaymentError", "1.1.0", "iOS", "18.1", "FR", r1, 3),
		e("e5", at(d1, "12:00:00"), "", "a1", "s3", "app_open", "1.1.0", "Android", "14", "DE", r1, 4),
		e("e6", at(d2, "09:00:00"), "u1", "", "s4", "app_open", "1.1.0", "iOS", "17.5", "DE", r2, 0),
		e("e7", time.Time{}, "u3", "", "s5", "app_crash", "1.1.0", "Android", "14", "US", r2, 1),
		e("e8", at(d2, "09:20:00"), "", "a1", "s6", "screen_view", "1.1.0", "Android", "14", "DE", r2, 2),
		e("e9", at(d2, "09:30:00"), "", "a2", "s7", "app_open", "1.0.0", "iOS", "17.5", "US", r2, 3),
		e("e10", at(d3, "08:00:00"), "u2", "", "s8", "app_open", "2.0.0", "iOS", "18.1", "FR", r3, 0),
		e("e11", at(d3, "08:05:00"), "u2", "", "s8", "NullPointerException", "2.0.0", "iOS", "18.1", "FR", r3, 1),
		e("e12", at(d3, "08:10:00"), "u3", "", "s9", "screen_view", "2.0.0", "Android", "14", "US", r3, 2),
		e("e13", at(d3, "08:15:00"), "u4", "a3", "s10", "app_open", "2.0.0", "Android", "15", "GB", r3, 0),
		e("e14", at(d2, "09:10:00"), "u2", "", "s11", "app_crash", "1.1.0", "iOS", "18.1", "US", r2, 4),
	}
	evs[13].skewed, evs[13].bot, evs[13].botName = true, "crawler", "Googlebot"
	evs[2].skewed = true
	evs[6].skewed, evs[6].clamped = true, true
	evs[6].ts = evs[6].received // a clamped time is replaced by the arrival time
	evs[10].skewed = true
	evs[12].received, evs[12].ingested = at(d3, "08:16:00"), at(d3, "08:16:05")
	return evs
}

func (e event) source(app string) eventdoc.Source {
	s := eventdoc.Source{
		DocID: eventdoc.ID(app, e.id), AppID: app, EventID: e.id, UserID: e.user, AnonymousID: e.anon,
		SessionID: e.session, EventName: e.name, Timestamp: e.ts, ClientTimestamp: e.ts,
		ReceivedAt: e.received, IngestedAt: e.ingested, AppVersion: e.version,
		DeviceOS: e.osName + " " + e.osVersion, OSName: e.osName, OSVersion: e.osVersion, Country: e.country,
		ClockSkewed: e.skewed, TimestampClamped: e.clamped, Bot: e.bot, BotName: e.botName,
	}
	if e.skewed {
		skew := int64(3 * time.Hour / time.Millisecond)
		s.ClockSkewMs = &skew
		s.ClientTimestamp = e.ts.Add(3 * time.Hour)
	}
	if e.clamped {
		s.ClientTimestamp = e.ts.AddDate(1, 0, 0)
	}
	return s
}

// deadLetters: x-1, x-2 on D2 (mapper_parsing_exception, app shop); x-3 on
// D3 (strict_dynamic_mapping_exception, shop); x-4 on D3
// (illegal_argument_exception, news).
func deadLetters(prefix string) []eventdoc.DeadLetter {
	dl := func(id, app, errType string, failedAt time.Time) eventdoc.DeadLetter {
		return eventdoc.DeadLetter{DocID: eventdoc.ID(app, id), AppID: app, EventID: id, Index: eventdoc.IndexName(prefix, failedAt),
			Status: 400, ErrorType: errType, ErrorReason: "refused: " + errType, FailedAt: failedAt, Deliveries: 1}
	}
	return []eventdoc.DeadLetter{
		dl("x-1", "shop", "mapper_parsing_exception", at(d2, "10:00:00")),
		dl("x-2", "shop", "mapper_parsing_exception", at(d2, "10:05:00")),
		dl("x-3", "shop", "strict_dynamic_mapping_exception", at(d3, "09:00:00")),
		dl("x-4", "news", "illegal_argument_exception", at(d3, "09:30:00")),
	}
}

// auditEntries: seven query-service calls on D3, one a minute from 10:00,
// trace ids t1…t7:
//
//	t1 support   SearchEvents   shop OK 5 results
//	t2 support   SearchEvents   shop OK 3
//	t3 support   GetUserSummary shop OK 1
//	t4 analytics EventStats     news OK 100
//	t5 analytics SearchEvents   shop PermissionDenied
//	t6 none      SearchEvents   (no app) Unauthenticated
//	t7 support   SearchEvents   shop ResourceExhausted
func auditEntries() []map[string]any {
	rows := []struct {
		principal, method, app, status string
		results                        int
	}{
		{"support", "SearchEvents", "shop", "OK", 5},
		{"support", "SearchEvents", "shop", "OK", 3},
		{"support", "GetUserSummary", "shop", "OK", 1},
		{"analytics", "EventStats", "news", "OK", 100},
		{"analytics", "SearchEvents", "shop", "PermissionDenied", 0},
		{"none", "SearchEvents", "", "Unauthenticated", 0},
		{"support", "SearchEvents", "shop", "ResourceExhausted", 0},
	}
	var out []map[string]any
	for i, r := range rows {
		doc := map[string]any{"time": at(d3, fmt.Sprintf("10:%02d:00", i)), "principal": r.principal, "method": r.method,
			"transport": "grpc", "results": r.results, "status": r.status, "duration_ms": 1.5, "trace_id": fmt.Sprintf("t%d", i+1)}
		if r.app != "" {
			doc["app_id"] = r.app
			doc["filters"] = map[string]string{"app_id": r.app}
		}
		out = append(out, doc)
	}
	return out
}

// wantRows are each visualization's rows (bucket keys → metrics, in the
// visState's metric order), counted by hand from the fixtures above.
var wantRows = map[string][]string{
	// Product overview
	"overview-totals": {"13, 4, 3, 10"}, // events; users u1-u4; anonymous a1-a3; sessions s1-s10
	"events-over-time-by-name": {
		"2026-03-02T00:00:00Z / app_open → 3", "2026-03-02T00:00:00Z / PaymentError → 1", "2026-03-02T00:00:00Z / checkout_completed → 1",
		"2026-03-03T00:00:00Z / app_open → 2", "2026-03-03T00:00:00Z / app_crash → 1", "2026-03-03T00:00:00Z / screen_view → 1",
		"2026-03-09T00:00:00Z / app_open → 2", "2026-03-09T00:00:00Z / NullPointerException → 1", "2026-03-09T00:00:00Z / screen_view → 1",
	},
	"daily-active-users": { // users, anonymous ids
		"2026-03-02T00:00:00Z → 2, 1", // u1 u2; a1
		"2026-03-03T00:00:00Z → 2, 2", // u1 u3; a1 a2
		"2026-03-09T00:00:00Z → 3, 1", // u2 u3 u4; a3
	},
	"weekly-active-users": {
		"2026-03-02T00:00:00Z → 3, 2", // u1 u2 u3; a1 a2
		"2026-03-09T00:00:00Z → 3, 1", // u2 u3 u4; a3
	},
	"sessions-per-day": {"2026-03-02T00:00:00Z → 3", "2026-03-03T00:00:00Z → 4", "2026-03-09T00:00:00Z → 3"},
	"top-events": { // events, users
		"app_open → 7, 3", "screen_view → 2, 1",
		"NullPointerException → 1, 1", "PaymentError → 1, 1", "app_crash → 1, 1", "checkout_completed → 1, 1",
	},
	"countries":   {"DE → 5, 1", "FR → 4, 1", "US → 3, 1", "GB → 1, 1"},
	"os-versions": {"iOS / 17.5 → 4, 1", "iOS / 18.1 → 4, 1", "Android / 14 → 4, 1", "Android / 15 → 1, 1"},
	"app-version-adoption": { // sessions per day and version
		"2026-03-02T00:00:00Z / 1.1.0 → 2", "2026-03-02T00:00:00Z / 1.0.0 → 1",
		"2026-03-03T00:00:00Z / 1.1.0 → 3", "2026-03-03T00:00:00Z / 1.0.0 → 1",
		"2026-03-09T00:00:00Z / 2.0.0 → 3",
	},
	// Release health
	"events-per-app-version": {"1.1.0 → 6, 3", "2.0.0 → 4, 3", "1.0.0 → 3, 1"},
	"events-per-version-and-os": {
		"1.1.0 / Android / 14 → 3", "1.1.0 / iOS / 18.1 → 2", "1.1.0 / iOS / 17.5 → 1",
		"2.0.0 / Android / 14 → 1", "2.0.0 / Android / 15 → 1", "2.0.0 / iOS / 18.1 → 2",
		"1.0.0 / iOS / 17.5 → 3",
	},
	"clock-corrections-by-version": {
		"1.1.0 / clamped → 1", "1.1.0 / on time → 4", "1.1.0 / skewed (corrected) → 1",
		"2.0.0 / clamped → 0", "2.0.0 / on time → 3", "2.0.0 / skewed (corrected) → 1",
		"1.0.0 / clamped → 0", "1.0.0 / on time → 3", "1.0.0 / skewed (corrected) → 0",
	},
	"error-events-over-time":  {"2026-03-02T00:00:00Z / 1.1.0 → 1", "2026-03-03T00:00:00Z / 1.1.0 → 1", "2026-03-09T00:00:00Z / 2.0.0 → 1"},
	"error-events-by-version": {"1.1.0 / PaymentError → 1, 1", "1.1.0 / app_crash → 1, 1", "2.0.0 / NullPointerException → 1, 1"},
	// Pipeline health (bots included: e14 in 09:30 / 09:31 of D2)
	"indexed-events-per-minute":  {"2026-03-02T12:00:00Z → 5", "2026-03-03T09:31:00Z → 5", "2026-03-09T08:15:00Z → 3", "2026-03-09T08:16:00Z → 1"},
	"events-received-per-minute": {"2026-03-02T12:00:00Z → 5", "2026-03-03T09:30:00Z → 5", "2026-03-09T08:15:00Z → 3", "2026-03-09T08:16:00Z → 1"},
	"dead-letters-over-time": {
		"2026-03-03T00:00:00Z / mapper_parsing_exception → 2",
		"2026-03-09T00:00:00Z / illegal_argument_exception → 1", "2026-03-09T00:00:00Z / strict_dynamic_mapping_exception → 1",
	},
	"dead-letters-by-reason": {"mapper_parsing_exception / shop → 2", "illegal_argument_exception / news → 1", "strict_dynamic_mapping_exception / shop → 1"},
	"query-calls-over-time": {
		"2026-03-09T00:00:00Z / OK → 4", "2026-03-09T00:00:00Z / PermissionDenied → 1",
		"2026-03-09T00:00:00Z / ResourceExhausted → 1", "2026-03-09T00:00:00Z / Unauthenticated → 1",
	},
	"query-calls-by-principal-and-app": { // calls, results
		"support / shop / SearchEvents → 3, 8", "support / shop / GetUserSummary → 1, 1",
		"analytics / news / EventStats → 1, 100", "analytics / shop / SearchEvents → 1, 0",
		"none / __missing__ / SearchEvents → 1, 0",
	},
	"refused-query-calls-by-principal": {
		"analytics / PermissionDenied / SearchEvents → 1", "none / Unauthenticated / SearchEvents → 1", "support / ResourceExhausted / SearchEvents → 1",
	},
}

// wantHits are each saved search's hits (event ids, or audit trace ids),
// in the saved sort order. The user timeline is run for u2.
var wantHits = map[string][]string{
	"user-timeline":          {"e11", "e10", "e14", "e4", "e3"},
	"clock-corrected-events": {"e11", "e7", "e3"},
	"error-named-events":     {"e11", "e7", "e4"},
	"refused-documents":      {"x-4", "x-3", "x-2", "x-1"},
	"query-audit-calls":      {"t7", "t6", "t5", "t4", "t3", "t2", "t1"},
	"refused-query-calls":    {"t7", "t6", "t5"},
}

const userPlaceholder = "replace-with-a-user-id"

// setup puts the three index templates under a prefix of this test's own,
// indexes the fixtures through them and returns the prefix.
func setup(t *testing.T, osURL string) string {
	t.Helper()
	prefix := testenv.Name(t, "dash")
	testenv.DeleteIndexData(t, osURL, prefix)
	for _, build := range []func(string) (templates.Template, error){templates.Events, templates.DeadLetter, templates.Audit} {
		tpl, err := build(prefix)
		if err != nil {
			t.Fatal(err)
		}
		testenv.Do(t, osURL, http.MethodPut, "/_index_template/"+tpl.Name, string(tpl.Body))
	}
	var body opensearchx.BulkBody
	add := func(index, id string, src any) {
		b, err := json.Marshal(src)
		if err != nil {
			t.Fatalf("encode %s/%s: %v", index, id, err)
		}
		body.Create(index, id, b)
	}
	for _, e := range fixtureEvents() {
		s := e.source("shop")
		add(eventdoc.IndexName(prefix, s.Timestamp), s.DocID, s)
	}
	for _, d := range deadLetters(prefix) {
		add(eventdoc.DeadLetterIndex(prefix, d.FailedAt), d.DocID, d)
	}
	for _, a := range auditEntries() {
		add(eventdoc.AuditIndex(prefix, a["time"].(time.Time)), a["trace_id"].(string), a)
	}
	testenv.Bulk(t, osURL, &body)
	testenv.Refresh(t, osURL, "*"+prefix+"*")
	return prefix
}

func search(t *testing.T, osURL string, r *dashboards.Request, replace ...string) []byte {
	t.Helper()
	body, err := json.Marshal(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(replace) == 2 {
		body = bytes.ReplaceAll(body, []byte(replace[0]), []byte(replace[1]))
	}
	// Dashboards sends every search with ignore_unavailable (an index
	// pattern may name an index that does not exist).
	return testenv.Do(t, osURL, http.MethodPost, "/"+r.Index+"/_search?ignore_unavailable=true", string(body))
}

// TestVisualizationsReturnHandCountedRows translates every visualization
// with data into its search request (for this test's index prefix; the
// saved objects name the default prefix's patterns), runs it and compares
// the rows with the hand-counted ones. A visualization without an expected
// row set fails the test, so a new one cannot go unchecked.
func TestVisualizationsReturnHandCountedRows(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := setup(t, osURL)
	set, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	opts := dashboards.SearchOptions{Prefix: prefix, TimeZone: "UTC", AutoInterval: "1d",
		From: d1.AddDate(0, 0, -1), To: d3.AddDate(0, 0, 1)}
	checked := map[string]bool{}
	for _, o := range set.OfType(dashboards.TypeVisualization) {
		vis, err := o.VisState()
		if err != nil {
			t.Fatal(err)
		}
		if len(vis.Aggs) == 0 {
			continue // markdown
		}
		t.Run(o.ID, func(t *testing.T) {
			want, ok := wantRows[o.ID]
			if !ok {
				t.Fatalf("no hand-counted rows for visualization %s: add them to wantRows", o.ID)
			}
			checked[o.ID] = true
			r, err := set.VisualizationRequest(o.ID, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.Index, prefix+"-") && !strings.Contains(r.Index, "-"+prefix+"-") {
				t.Fatalf("index %s is not under the test prefix %s", r.Index, prefix)
			}
			rows, err := r.Rows(search(t, osURL, r))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, row := range rows {
				got = append(got, row.String())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				body, _ := json.Marshal(r.Body)
				t.Errorf("rows\n got %q\nwant %q\nrequest %s %s", got, want, r.Index, body)
			}
		})
	}
	for id := range wantRows {
		if !checked[id] {
			t.Errorf("wantRows has %s, which is no visualization with data", id)
		}
	}
}

// TestSavedSearchesReturnHandPickedHits runs every saved search as Discover
// does (its query and filters, its sort) and compares the hits' ids.
func TestSavedSearchesReturnHandPickedHits(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := setup(t, osURL)
	set, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	opts := dashboards.SearchOptions{Prefix: prefix, From: d1.AddDate(0, 0, -1), To: d3.AddDate(0, 0, 1)}
	for _, o := range set.OfType(dashboards.TypeSearch) {
		t.Run(o.ID, func(t *testing.T) {
			want, ok := wantHits[o.ID]
			if !ok {
				t.Fatalf("no expected hits for saved search %s: add them to wantHits", o.ID)
			}
			r, err := set.SavedSearchRequest(o.ID, opts)
			if err != nil {
				t.Fatal(err)
			}
			var replace []string
			if o.ID == "user-timeline" {
				if got := hitIDs(t, search(t, osURL, r)); len(got) != 0 {
					t.Errorf("the placeholder query found %v", got)
				}
				replace = []string{userPlaceholder, "u2"}
			}
			got := hitIDs(t, search(t, osURL, r, replace...))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("hits %v, want %v", got, want)
			}
		})
	}
}

// hitIDs returns each hit's event id (events, dead letters) or trace id
// (audit entries).
func hitIDs(t *testing.T, response []byte) []string {
	t.Helper()
	var res struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(response, &res); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range res.Hits.Hits {
		id, ok := h.Source["event_id"].(string)
		if !ok {
			id, _ = h.Source["trace_id"].(string)
		}
		ids = append(ids, id)
	}
	return ids
}
