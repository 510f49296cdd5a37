package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/evtrack/telemetry/integration/internal/stack"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/geotest"
)

// The client addresses of the privacy test, as the client sends them in
// X-Forwarded-For (through a trusted proxy), and what truncation keeps.
const (
	clientIPv4     = "81.2.69.160"
	truncatedIPv4  = "81.2.69.0"
	clientIPv6     = "2001:db8:85a3:8d3:1319:8a2e:370:7348"
	truncatedIPv6  = "2001:db8:85a3::"
	pseudonymKey   = "707269766163792d746573742d6b65792d6f662d33322d62797465732d2d2d2d" // hex, 32 bytes
	privacyUser    = "user-alice-7731"
	privacyDevice  = "device-bob-1184"
	privacyBotUA   = "python-requests/2.31.0"
	privacyHumanUA = "Shop/4.2.0 (iPhone15,2; iOS 18.1) CFNetwork/1494.0.7 Darwin/23.4.0"
)

// privacyRun is one pipeline with an IP mode, its log and what it stored.
type privacyRun struct {
	names   *stack.Names
	logs    *testenv.Logs
	spans   *tracetest.SpanRecorder
	ingest  string
	query   string
	badDay  time.Time // its daily index refuses user_id and client_ip: those events are dead-lettered
	goodDay time.Time
}

// startPrivacyRun starts ingest, enrich and query on names of their own,
// logging everything (debug and up) into one buffer, with ingest trusting
// the loopback proxy's X-Forwarded-For, a geo database knowing only the
// upper half of the IPv4 client's /24 (so a country proves the full address
// was looked up), the IP mode given, and user_id and anonymous_id
// pseudonymised. The index of badDay maps user_id and client_ip as
// numbers, so the events of that day are refused and dead-lettered.
func startPrivacyRun(t *testing.T, prefix, ipMode string) *privacyRun {
	t.Helper()
	logs := &testenv.Logs{}
	spans := tracetest.NewSpanRecorder()
	n := newNames(t, prefix, otelx.ForTest(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))), map[string]string{
		"INGEST_TRUSTED_PROXIES":     "127.0.0.1/32,::1/128",
		"GEOIP_DB":                   writeGeoDB(t),
		"ENRICH_IP_ANONYMISATION":    ipMode,
		"ENRICH_PSEUDONYMISE_FIELDS": "user_id,anonymous_id",
		"ENRICH_PSEUDONYM_KEY":       pseudonymKey,
		"QUERY_PSEUDONYMISE_FIELDS":  "user_id,anonymous_id",
		"QUERY_PSEUDONYM_KEY":        pseudonymKey,
		"QUERY_TOKENS":               readToken + ":" + appID + "," + deleteToken + ":" + appID + ":delete",
		"QUERY_PAGE_TOKEN_KEY":       pageTokenKey,
		"LOG_LEVEL":                  "debug",
	})
	n.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := &privacyRun{names: n, logs: logs, spans: spans, badDay: time.Now().UTC().Add(-48 * time.Hour), goodDay: time.Now().UTC().Add(-time.Hour)}
	r.ingest = "http://" + n.Ingest().Addr()
	n.Enrich()
	// After enrich has put its templates (and their mappings on existing
	// indices): the index's own mapping wins over the template's.
	testenv.PutJSON(t, n.OpenSearchURL, "/"+eventdoc.IndexName(n.Prefix, r.badDay), `{"mappings":{"properties":{"client_ip":{"type":"long"},"user_id":{"type":"long"}}}}`)
	r.query = "http://" + n.Query().HTTPAddr()
	return r
}

// writeGeoDB writes a MaxMind-format database that knows 81.2.69.128/25
// (GB) and nothing else, and returns its path.
func writeGeoDB(t *testing.T) string {
	t.Helper()
	return geotest.WriteDB(t, "Test-Country", map[string]mmdbtype.Map{"81.2.69.128/25": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}}})
}

// track posts events from the client address ip with the User-Agent ua.
func (r *privacyRun) track(t *testing.T, ip, ua string, events ...map[string]any) {
	t.Helper()
	body, _ := json.Marshal(events)
	req, _ := http.NewRequest(http.MethodPost, r.ingest+"/v1/track", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+writeKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("track from %s: status %d", ip, res.StatusCode)
	}
}

func privacyEvent(id string, at time.Time, ids map[string]string) map[string]any {
	e := map[string]any{"event_id": id, "event_name": "screen_view", "client_timestamp": at.Format(time.RFC3339Nano)}
	for k, v := range ids {
		e[k] = v
	}
	return e
}

// sendAll sends the test's events: from the IPv4 client (a signed-in user;
// one event on the day whose index refuses it), from the IPv6 client (a
// signed-out device), and from a bot (an HTTP library), and waits until all
// are indexed or dead-lettered.
func (r *privacyRun) sendAll(t *testing.T) {
	t.Helper()
	user := map[string]string{"user_id": privacyUser}
	device := map[string]string{"anonymous_id": privacyDevice}
	r.track(t, clientIPv4, privacyHumanUA,
		privacyEvent("v4-1", r.goodDay, user), privacyEvent("v4-2", r.goodDay.Add(time.Second), user),
		privacyEvent("v4-refused", r.badDay, user))
	r.track(t, clientIPv6, privacyHumanUA, privacyEvent("v6-1", r.goodDay, device), privacyEvent("v6-2", r.goodDay.Add(time.Second), device))
	r.track(t, clientIPv4, privacyBotUA, privacyEvent("bot-1", r.goodDay, user))
	n := r.names
	testenv.EventuallyState(t, 30*time.Second, "5 events indexed and 1 dead-lettered", func() (bool, string) {
		// An index created a moment ago answers 503 until its shard has
		// started: not yet.
		docs, err := testenv.Sources(t, n.OpenSearchURL, eventdoc.Pattern(n.Prefix), "")
		if err != nil {
			return false, err.Error()
		}
		letters, err := testenv.Sources(t, n.OpenSearchURL, eventdoc.DeadLetterPattern(n.Prefix), "")
		if err != nil {
			return false, err.Error()
		}
		return len(docs) == 5 && len(letters) == 1, fmt.Sprintf("%d indexed, %d dead letters", len(docs), len(letters))
	})
}

// stored returns the raw search answers over every index of the run
// (events, dead letters, audit) and the event documents by event id.
func (r *privacyRun) stored(t *testing.T) (raw string, docs map[string]map[string]any) {
	t.Helper()
	n := r.names
	testenv.Refresh(t, n.OpenSearchURL, "*"+n.Prefix+"*")
	for _, pattern := range []string{eventdoc.Pattern(n.Prefix), eventdoc.DeadLetterPattern(n.Prefix), eventdoc.AuditPattern(n.Prefix)} {
		raw += string(testenv.Do(t, n.OpenSearchURL, http.MethodPost, "/"+pattern+"/_search?size=10000&allow_no_indices=true&ignore_unavailable=true", ""))
	}
	sources, err := testenv.Sources(t, n.OpenSearchURL, eventdoc.Pattern(n.Prefix), "")
	if err != nil {
		t.Fatal(err)
	}
	docs = map[string]map[string]any{}
	for _, d := range sources {
		docs[d["event_id"].(string)] = d
	}
	return raw, docs
}

// fullAddressForms are the ways a full client address could be written.
func fullAddressForms() []string {
	return []string{clientIPv4, clientIPv6, "::ffff:" + clientIPv4, "2001:0db8:85a3:08d3:1319:8a2e:0370:7348"}
}

// TestIPAnonymisationKeepsFullAddressOutOfStoreAndLogs: with truncation on,
// no stored document (events, dead letters, audit) and no log line of
// ingest, enrich or query holds a full client address; the truncated ones
// are there, and the country was looked up from the full address. The
// control run (no anonymisation) stores the full addresses, so the scan
// finds them when they are there.
func TestIPAnonymisationKeepsFullAddressOutOfStoreAndLogs(t *testing.T) {
	t.Parallel()
	r := startPrivacyRun(t, "privacy", "truncate")
	r.sendAll(t)
	raw, docs := r.stored(t)

	for _, full := range fullAddressForms() {
		if strings.Contains(raw, full) {
			t.Errorf("a stored document holds the full address %s", full)
		}
	}
	for _, want := range map[string]string{"v4-1": truncatedIPv4, "v4-2": truncatedIPv4, "bot-1": truncatedIPv4, "v6-1": truncatedIPv6, "v6-2": truncatedIPv6} {
		if !strings.Contains(raw, `"client_ip":"`+want+`"`) {
			t.Errorf("no document holds the truncated address %s: the scan would not see an address at all", want)
		}
	}
	if d := docs["v4-1"]; d["client_ip"] != truncatedIPv4 || d["country"] != "GB" {
		t.Errorf("v4-1: client_ip %v country %v; want %s and GB (looked up from the full address: %s is outside the database's /25)",
			d["client_ip"], d["country"], truncatedIPv4, truncatedIPv4)
	}
	if d := docs["v6-1"]; d["client_ip"] != truncatedIPv6 {
		t.Errorf("v6-1: client_ip %v, want %s", d["client_ip"], truncatedIPv6)
	}
	var letter struct {
		Hits struct {
			Hits []struct {
				Source eventdoc.DeadLetter `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	_ = json.Unmarshal(testenv.Do(t, r.names.OpenSearchURL, http.MethodPost, "/"+eventdoc.DeadLetterPattern(r.names.Prefix)+"/_search", ""), &letter)
	if len(letter.Hits.Hits) != 1 || !strings.Contains(string(letter.Hits.Hits[0].Source.Document), truncatedIPv4) {
		t.Errorf("dead letter %+v: want the refused event's document with the truncated address", letter.Hits.Hits)
	}

	// The services' logs: ingest, enrich (with its privacy settings) and
	// query each wrote some, the dead letter was logged, and none holds a
	// full address.
	logs := r.logs.String()
	for _, want := range []string{`"msg":"ingest listening"`, `"msg":"enrich running"`, `"msg":"query listening"`,
		`"msg":"privacy","client_ip":"truncate"`, `"msg":"document refused by OpenSearch; dead-lettered"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the captured logs lack %s: the scan would not cover that service", want)
		}
	}
	for _, full := range fullAddressForms() {
		if strings.Contains(logs, full) {
			t.Errorf("a log line holds the full address %s", full)
		}
	}
	if strings.Contains(logs, privacyUser) || strings.Contains(logs, privacyDevice) {
		t.Error("a log line holds an original user or device id")
	}
	// The spans the services traced (names and attributes).
	var spans strings.Builder
	for _, s := range r.spans.Ended() {
		fmt.Fprintln(&spans, s.Name(), s.Attributes())
	}
	if !strings.Contains(spans.String(), "POST /v1/track") {
		t.Errorf("no ingest span recorded: the scan would not cover traces:\n%s", spans.String())
	}
	for _, full := range fullAddressForms() {
		if strings.Contains(spans.String(), full) {
			t.Errorf("a span holds the full address %s", full)
		}
	}

	t.Run("control: no anonymisation stores the full addresses", func(t *testing.T) {
		c := startPrivacyRun(t, "privacy-control", "none")
		c.sendAll(t)
		raw, docs := c.stored(t)
		if docs["v4-1"]["client_ip"] != clientIPv4 || docs["v6-1"]["client_ip"] != clientIPv6 || !strings.Contains(raw, clientIPv4) {
			t.Errorf("client_ip %v / %v; want the full addresses", docs["v4-1"]["client_ip"], docs["v6-1"]["client_ip"])
		}
	})
}

// expectedPseudonym computes the pseudonym of id independently of the
// platform's package: "p1:" and base64url of the first 16 bytes of
// HMAC-SHA256 under the hex key.
func expectedPseudonym(t *testing.T, id string) string {
	t.Helper()
	key, err := hex.DecodeString(pseudonymKey)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	return "p1:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// TestPseudonymisedIDsAreSearchableByOriginalID: user_id and anonymous_id
// are stored as their keyed hash and nowhere in the clear in the event and
// dead-letter indices; the query API finds a user's events by the original
// id (history, search filter, summary) and by the pseudonym; bots are
// flagged.
func TestPseudonymisedIDsAreSearchableByOriginalID(t *testing.T) {
	t.Parallel()
	r := startPrivacyRun(t, "pseudonyms", "drop")
	r.sendAll(t)
	n := r.names
	_, docs := r.stored(t)

	userP, deviceP := expectedPseudonym(t, privacyUser), expectedPseudonym(t, privacyDevice)
	for id, want := range map[string][2]string{"v4-1": {"user_id", userP}, "v4-2": {"user_id", userP}, "bot-1": {"user_id", userP},
		"v6-1": {"anonymous_id", deviceP}, "v6-2": {"anonymous_id", deviceP}} {
		if got := docs[id][want[0]]; got != want[1] {
			t.Errorf("%s: %s = %v, want the keyed hash %s", id, want[0], got, want[1])
		}
		if _, ok := docs[id]["client_ip"]; ok {
			t.Errorf("%s: client_ip stored with ENRICH_IP_ANONYMISATION=drop", id)
		}
	}
	for _, pattern := range []string{eventdoc.Pattern(n.Prefix), eventdoc.DeadLetterPattern(n.Prefix)} {
		raw := string(testenv.Do(t, n.OpenSearchURL, http.MethodPost, "/"+pattern+"/_search?size=10000", ""))
		if strings.Contains(raw, privacyUser) || strings.Contains(raw, privacyDevice) {
			t.Errorf("%s holds an original id", pattern)
		}
	}
	if docs["bot-1"]["bot"] != "automation" || docs["bot-1"]["bot_name"] != "python-requests" {
		t.Errorf("bot-1: bot %v %v, want automation python-requests", docs["bot-1"]["bot"], docs["bot-1"]["bot_name"])
	}
	if _, ok := docs["v4-1"]["bot"]; ok {
		t.Errorf("v4-1 (an app's CFNetwork User-Agent) flagged as a bot: %v", docs["v4-1"]["bot"])
	}

	// The bad day's index maps user_id as a number (to refuse its events):
	// a search of user_id fails on its shard, and the service answers a
	// search that some shard could not run with 503, never a page without
	// that shard. Its events are dead letters; it holds none: it goes.
	testenv.Do(t, n.OpenSearchURL, http.MethodDelete, "/"+eventdoc.IndexName(n.Prefix, r.badDay), "")
	auth := "Bearer " + readToken
	eventIDs := func(path string) []string {
		t.Helper()
		status, body := do(t, http.MethodGet, r.query+path, auth, "")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var res struct {
			Events []struct {
				EventID     string `json:"event_id"`
				UserID      string `json:"user_id"`
				AnonymousID string `json:"anonymous_id"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
		var ids []string
		for _, e := range res.Events {
			ids = append(ids, e.EventID)
			// The API answers with what is stored: the pseudonym.
			if (e.UserID != "" && e.UserID != userP) || (e.AnonymousID != "" && e.AnonymousID != deviceP) {
				t.Errorf("GET %s: event %s has user_id %q anonymous_id %q, want the pseudonyms", path, e.EventID, e.UserID, e.AnonymousID)
			}
		}
		return ids
	}
	for _, tt := range []struct {
		path string
		want string
	}{
		{"/v1/users/" + url.PathEscape(privacyUser) + "/events?app_id=" + appID, "[bot-1 v4-2 v4-1]"},
		{"/v1/events?app_id=" + appID + "&user_id=" + url.QueryEscape(privacyUser), "[bot-1 v4-2 v4-1]"},
		{"/v1/events?app_id=" + appID + "&anonymous_id=" + url.QueryEscape(privacyDevice), "[v6-2 v6-1]"},
		{"/v1/events?app_id=" + appID + "&user_id=" + url.QueryEscape(userP), "[bot-1 v4-2 v4-1]"},
		{"/v1/events?app_id=" + appID + "&user_id=" + url.QueryEscape("user-nobody"), "[]"},
	} {
		got := eventIDs(tt.path)
		// Same timestamps sort by doc id: compare as sets.
		if fmt.Sprint(slices.Sorted(slices.Values(got))) != fmt.Sprint(slices.Sorted(slices.Values(strings.Fields(strings.Trim(tt.want, "[]"))))) {
			t.Errorf("GET %s: events %v, want %s", tt.path, got, tt.want)
		}
	}
	status, body := do(t, http.MethodGet, r.query+"/v1/users/"+url.PathEscape(privacyUser)+"/summary?app_id="+appID, auth, "")
	var summary struct {
		EventCount string `json:"event_count"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &summary) != nil || summary.EventCount != "3" {
		t.Errorf("summary by the original id: %d %s; want 3 events", status, body)
	}
	// A deletion by the pseudonym would find the stored events but never
	// suppress the new ones (they arrive with the original id): refused,
	// naming the field; by the original id it is taken.
	status, body = do(t, http.MethodDelete, r.query+"/v1/users/"+url.PathEscape(userP)+"?app_id="+appID, "Bearer "+deleteToken, "")
	if status != http.StatusBadRequest || !strings.Contains(body, "user_id") || !strings.Contains(body, "pseudonym") {
		t.Errorf("DELETE by the pseudonym: %d %s, want 400 naming user_id as a pseudonym", status, body)
	}
	status, body = do(t, http.MethodDelete, r.query+"/v1/users/"+url.PathEscape(privacyUser)+"?app_id="+appID, "Bearer "+deleteToken, "")
	if status != http.StatusOK {
		t.Errorf("DELETE by the original id: %d %s, want 200", status, body)
	}
	// No span holds the original ids the API was called with, in its path
	// or anywhere else; the query's HTTP spans are there, with the route.
	var routes int
	for _, s := range r.spans.Ended() {
		for _, a := range s.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, privacyUser) || strings.Contains(v, privacyDevice) {
				t.Errorf("span %q: %s = %q holds an original id", s.Name(), a.Key, v)
			} else if a.Key == "url.path" && strings.HasPrefix(v, "/v1/users/{user_id}") {
				routes++
			}
		}
	}
	if routes < 3 {
		t.Errorf("%d query spans with url.path /v1/users/{user_id}…: the scan would not cover the query's spans", routes)
	}
}
