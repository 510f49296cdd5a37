package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/credentials"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestAuditRecordsRefusedCalls, through the real audit indices: calls with
// a wrong or no token (refused by the gRPC tap or by the HTTP face) and
// rate-limited calls are in the trail with their status; a gRPC caller's
// x-forwarded-host / grpcgateway-* metadata does not make it "http"; and no
// token is ever written, only fingerprints.
func TestAuditRecordsRefusedCalls(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_RATE_LIMIT_PER_SEC": "0.01", "QUERY_RATE_LIMIT_BURST": "1"})
	const wrong = "token-guessed-0123456789"
	if _, err := e.grpc.SearchEvents(authed(wrong), &queryv1.SearchEventsRequest{UserId: "u1"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC wrong token: %v", err)
	}
	if _, err := e.grpc.GetEvent(context.Background(), &queryv1.GetEventRequest{EventId: "a-u1-01"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("gRPC no token: %v", err)
	}
	if code, body := e.get(t, wrong, "/v1/users/u1/summary"); code != http.StatusUnauthorized {
		t.Fatalf("HTTP wrong token: %d %s", code, body)
	}
	forged := metadata.AppendToOutgoingContext(authed(tokenAll), "x-forwarded-host", "gateway.example.com", "grpcgateway-user-agent", "curl")
	if _, err := e.grpc.GetUserSummary(forged, &queryv1.GetUserSummaryRequest{UserId: "u1"}); err != nil {
		t.Fatalf("gRPC with forged gateway metadata: %v", err)
	}
	if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != http.StatusOK {
		t.Fatalf("HTTP first call: %d %s", code, body)
	}
	if code, body := e.get(t, tokenA, "/v1/users/u1/events"); code != http.StatusTooManyRequests {
		t.Fatalf("HTTP second call: %d %s, want 429", code, body)
	}
	if _, err := e.grpc.EventStats(authed(tokenA), &queryv1.EventStatsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC over the limit: %v", err)
	}

	fp := func(tok string) string { return credentials.Fingerprint("token", tok) }
	want := []string{ // principal method transport status, in call order
		credentials.Fingerprint("invalid-token", wrong) + " SearchEvents grpc Unauthenticated",
		"none GetEvent grpc Unauthenticated",
		credentials.Fingerprint("invalid-token", wrong) + " GetUserSummary http Unauthenticated",
		fp(tokenAll) + " GetUserSummary grpc OK",
		fp(tokenA) + " SearchEvents http OK",
		fp(tokenA) + " SearchEvents http ResourceExhausted",
		fp(tokenA) + " EventStats grpc ResourceExhausted",
	}
	var got []string
	for _, h := range waitAuditHits(t, e.osURL, e.prefix, len(want)) {
		got = append(got, fmt.Sprintf("%v %v %v %v", h["principal"], h["method"], h["transport"], h["status"]))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit trail\n got %q\nwant %q", got, want)
	}
	raw := testenv.Do(t, e.osURL, http.MethodGet, "/"+eventdoc.AuditPattern(e.prefix)+"/_search?size=100", "")
	for _, tok := range []string{wrong, tokenA, tokenAll} {
		if bytes.Contains(raw, []byte(tok)) {
			t.Errorf("the audit index holds the token %q", tok)
		}
	}
}

// TestAuditAppIDReachesTodaysIndexAfterUpgrade: today's audit index was
// created by a template without app_id (the version before it); the
// service, started over it, puts the current mapping on it, so the entries
// of calls naming an app are indexed there with app_id (Dashboards counts
// calls per app by it), and a call naming none has no app_id.
func TestAuditAppIDReachesTodaysIndexAfterUpgrade(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	tpl, err := templates.Audit(prefix)
	if err != nil {
		t.Fatal(err)
	}
	var old map[string]any
	if err := json.Unmarshal(tpl.Body, &old); err != nil {
		t.Fatal(err)
	}
	props := old["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)
	if _, ok := props["app_id"]; !ok {
		t.Fatal("the audit template maps no app_id")
	}
	delete(props, "app_id")
	oldBody, _ := json.Marshal(old)
	testenv.PutJSON(t, osURL, "/_index_template/"+tpl.Name, string(oldBody))
	today := eventdoc.AuditIndex(prefix, time.Now())
	testenv.PutJSON(t, osURL, "/"+today, "")

	e := runQuery(t, osURL, prefix, nil)
	if _, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{AppId: "app-a", UserId: "u1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.grpc.GetUserSummary(authed(tokenA), &queryv1.GetUserSummaryRequest{UserId: "u1"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range waitAuditHits(t, osURL, prefix, 2) {
		got = append(got, fmt.Sprintf("%v %v %v", h["method"], h["app_id"], h["_index"]))
	}
	want := []string{"SearchEvents app-a " + today, "GetUserSummary <nil> " + today}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit entries\n got %q\nwant %q", got, want)
	}
}

// TestAuditRetentionDeletesExpiredIndices: a running service deletes the
// audit index of a day older than QUERY_AUDIT_RETENTION and keeps a recent
// one.
func TestAuditRetentionDeletesExpiredIndices(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	now := time.Now().UTC()
	old, recent := eventdoc.AuditIndex(prefix, now.Add(-40*24*time.Hour)), eventdoc.AuditIndex(prefix, now.Add(-24*time.Hour))
	putAuditIndices(t, osURL, prefix, old, recent)
	runQuery(t, osURL, prefix, map[string]string{"QUERY_AUDIT_RETENTION": "720h"})
	testenv.Eventually(t, 15*time.Second, old+" deleted", func() bool { return !testenv.Exists(t, osURL, "/"+old) })
	if !testenv.Exists(t, osURL, "/"+recent) {
		t.Fatalf("%s, within the retention, was deleted", recent)
	}
}
