package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
)

// tokenDelete may read and delete people in app-a.
const tokenDelete = "token-delete-app-a-0123456789"

// deletionVars is the configuration of a query service that deletes
// people, on a suppression bucket of the test's own (on the real NATS; no
// enrich instance registers in it, so a deletion never waits for one).
func deletionVars(t *testing.T, prefix string, extra map[string]string) map[string]string {
	t.Helper()
	bucket := strings.ToUpper(strings.ReplaceAll(prefix, "-", "_"))
	testenv.DeleteKeyValue(t, testenv.NATSURL(t), bucket, bucket+"_STATUS")
	vars := map[string]string{
		"NATS_URL": testenv.NATSURL(t), "SUPPRESSION_BUCKET": bucket,
		"QUERY_TOKENS": tokenA + ":app-a," + tokenAll + ":*," + tokenC + ":app-c," + tokenDelete + ":app-a:delete",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return vars
}

// storedJob is a deletion job as the jobs index holds it.
type storedJob struct {
	State  string `json:"state"`
	Phase  string `json:"phase"`
	Owner  string `json:"owner"`
	Total  int64  `json:"total"`
	Events int64  `json:"deleted_events"`
}

func readJob(t *testing.T, osURL, prefix, id string) (storedJob, bool) {
	t.Helper()
	var doc struct {
		Source storedJob `json:"_source"`
	}
	if code := testenv.GetJSON(t, osURL+"/deletions-"+prefix+"/_doc/"+url.PathEscape(id), &doc); code != 200 {
		return storedJob{}, false
	}
	return doc.Source, true
}

// TestDeletionOutlastingItsLeaseWhileCountingDeadLetters: a deletion counts
// the person's dead letters by reading every letter of their app, which
// takes as long as the app has letters (kept for
// ENRICH_DEADLETTER_RETENTION: after weeks of a mapping error, more than a
// lease). With two query replicas, as deployed, the job must stay with the
// replica counting and complete; before, the other replica took it each
// time its lease ran out, the first one's save was refused and its count
// lost, and the job went from one replica to the other for ever, never
// leaving waiting_for_enrich, while the person's events stayed searchable.
// The letters are slow to read because OpenSearch is reached through a
// proxy that delays every request (the test's own reads go to the node).
func TestDeletionOutlastingItsLeaseWhileCountingDeadLetters(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	dl, err := templates.DeadLetter(prefix)
	if err != nil {
		t.Fatal(err)
	}
	testenv.PutJSON(t, osURL, "/_index_template/"+dl.Name, string(dl.Body))
	// 160 letters of other people of app-a, and one of u2 (the person).
	now := time.Now().UTC()
	var body opensearchx.BulkBody
	for i := range 161 {
		user := fmt.Sprintf("other-%d", i)
		if i == 80 {
			user = "u2"
		}
		eventID := fmt.Sprintf("dl-%03d", i)
		doc, _ := json.Marshal(map[string]string{"app_id": "app-a", "event_id": eventID, "user_id": user, "event_name": "refused"})
		id := eventdoc.ID("app-a", eventID)
		letter, _ := json.Marshal(eventdoc.DeadLetter{DocID: id, AppID: "app-a", EventID: eventID, Index: eventdoc.IndexName(prefix, now),
			Status: 400, ErrorType: "mapper_parsing_exception", ErrorReason: "test", FailedAt: now, Document: doc})
		body.Create(eventdoc.DeadLetterIndex(prefix, now), id, letter)
	}
	testenv.Bulk(t, osURL, &body)
	testenv.Refresh(t, osURL, eventdoc.DeadLetterPattern(prefix))

	proxy := testenv.NewProxy(t, strings.TrimPrefix(osURL, "http://"))
	vars := deletionVars(t, prefix, map[string]string{"QUERY_DELETE_LEASE": "5s", "QUERY_DELETE_POLL": "200ms",
		"QUERY_DELETE_PAGE_SIZE": "10", "QUERY_DELETE_PAGE_INTERVAL": "0"})
	q1 := runQuery(t, "http://"+proxy.Addr(), prefix, vars)
	runQuery(t, "http://"+proxy.Addr(), prefix, vars) // the second replica
	proxy.SetLatency(400 * time.Millisecond)          // 17 pages of letters: longer than a lease

	res, err := q1.grpc.DeleteUser(authed(tokenDelete), &queryv1.DeleteUserRequest{AppId: "app-a", UserId: "u2"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.GetJob().GetJobId()
	var owners []string // the replicas that held the job while it counted, in turn
	var job storedJob
	testenv.EventuallyState(t, 90*time.Second, "the job past its count, or handed over twice", func() (bool, string) {
		j, ok := readJob(t, osURL, prefix, id)
		if !ok {
			return false, "no job yet"
		}
		job = j
		if j.Phase == "waiting_for_enrich" && j.Owner != "" && (len(owners) == 0 || owners[len(owners)-1] != j.Owner) {
			owners = append(owners, j.Owner)
		}
		return j.Phase != "waiting_for_enrich" || len(owners) > 2, fmt.Sprintf("%+v, owners while counting %v", j, owners)
	})
	if len(owners) > 1 {
		t.Fatalf("the job went from replica to replica while it counted (%v) and is still %q: each replica's lease ran out "+
			"before its count ended, its save was refused and the count begun again by the other", owners, job.Phase)
	}
	proxy.SetLatency(0)
	testenv.EventuallyState(t, 60*time.Second, "the job completed", func() (bool, string) {
		j, err := q1.grpc.GetDeletion(authed(tokenDelete), &queryv1.GetDeletionRequest{JobId: id})
		return err == nil && j.GetJob().GetState() == queryv1.DeletionState_DELETION_STATE_COMPLETED, fmt.Sprintf("%v %v", j, err)
	})
	j, err := q1.grpc.GetDeletion(authed(tokenDelete), &queryv1.GetDeletionRequest{JobId: id})
	if err != nil || j.GetJob().GetTotal() != 4 || j.GetJob().GetDeleted() != 4 {
		t.Fatalf("completed job %v %v: want u2's 3 events and 1 letter found and deleted", j, err)
	}
	left, err := q1.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u2"})
	if err != nil || len(left.GetEvents()) != 0 {
		t.Fatalf("u2's events after the deletion: %v %v", left, err)
	}
}

// TestDeletionSuppressesThePseudonymsDeadLettersHold: where enrich stores
// user ids and anonymous ids as pseudonyms, a dead letter keeps the
// document as built, with the pseudonyms; the dead-letter replay recognises
// a deleted person's letters by the suppression list alone (what it reads
// here, as enrich/cmd/deadletters does). A deletion must therefore put the
// person's pseudonyms on the list — under the current key and under the
// previous ones, whose letters are kept for ENRICH_DEADLETTER_RETENTION
// after a rotation. Before, only the ids were listed: a replay running
// alongside the deletion wrote the person's letters back into the event
// indices (as events nobody deletes any more once the job is past its
// events) and reported them replayed, not suppressed.
func TestDeletionSuppressesThePseudonymsDeadLettersHold(t *testing.T) {
	t.Parallel()
	const key, previousKey = "6b65792d6e6f772d303132333435363738396162636465666768696a6b6c6d6e", "6b65792d6265666f72652d303132333435363738396162636465666768696a6b6c"
	osURL, prefix := writeFixtures(t)
	vars := deletionVars(t, prefix, map[string]string{"QUERY_PSEUDONYMISE_FIELDS": "user_id,anonymous_id",
		"QUERY_PSEUDONYM_KEY": key, "QUERY_PSEUDONYM_PREVIOUS_KEYS": previousKey})
	q := runQuery(t, osURL, prefix, vars)
	if _, err := q.grpc.DeleteUser(authed(tokenDelete), &queryv1.DeleteUserRequest{AppId: "app-a", UserId: "gone", AnonymousId: "anon-gone"}); err != nil {
		t.Fatal(err)
	}

	js := testenv.JetStream(t)
	b, err := suppression.Open(t.Context(), js, vars["SUPPRESSION_BUCKET"], 1)
	if err != nil {
		t.Fatal(err)
	}
	set, stop, err := suppression.Watch(t.Context(), b, suppression.SetConfig{Heartbeat: time.Second, Lease: time.Minute, WriteBound: time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(context.Background()) })
	f := set.Begin()
	defer f.Done()
	now, _ := pseudonym.ParseKey(key)
	before, _ := pseudonym.ParseKey(previousKey)
	for _, tc := range []struct {
		what      string
		user, ann string
		want      bool
	}{
		{"the user id, as events arrive", "gone", "", true},
		{"the anonymous id, as events arrive", "", "anon-gone", true},
		{"the user id's pseudonym, as a dead letter holds it", now.Of("gone"), "", true},
		{"the anonymous id's pseudonym", "", now.Of("anon-gone"), true},
		{"the user id's pseudonym under the previous key (a letter from before the rotation)", before.Of("gone"), "", true},
		{"another person's pseudonym", now.Of("u1"), "", false},
	} {
		if got := f.Suppressed("app-a", tc.user, tc.ann); got != tc.want {
			t.Errorf("%s (%q, %q): suppressed %v, want %v", tc.what, tc.user, tc.ann, got, tc.want)
		}
	}
	if f.Suppressed("app-b", now.Of("gone"), "") {
		t.Error("the person's pseudonym suppressed in another app")
	}
}
