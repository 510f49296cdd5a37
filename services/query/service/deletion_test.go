package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	// LastError is why the job's last step failed ("" once one succeeded).
	LastError string `json:"last_error"`
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
	osURL, prefix := writeFixturesWithDeadLetters(t)
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
		if got := f.Suppressed("app-a", tc.user, tc.ann, time.Now()); got != tc.want {
			t.Errorf("%s (%q, %q): suppressed %v, want %v", tc.what, tc.user, tc.ann, got, tc.want)
		}
	}
	if f.Suppressed("app-b", now.Of("gone"), "", time.Now()) {
		t.Error("the person's pseudonym suppressed in another app")
	}
}

// retentionUnderBulk is a reverse proxy in front of the OpenSearch node
// that, on the first _bulk of deletes it forwards, deletes every index the
// bulk names first — as enrich's retention would, had its pass fallen
// between a deletion page's search and its _bulk — and keeps what the node
// answered to that bulk.
type retentionUnderBulk struct {
	osURL string
	mu    sync.Mutex
	fired bool
	gone  []string // the indices deleted under the bulk
	reply string   // the node's answer to that bulk
}

func (p *retentionUnderBulk) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/_bulk" || r.Body == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.mu.Lock()
	defer p.mu.Unlock()
	first := !p.fired && bytes.Contains(body, []byte(`{"delete":`))
	if first {
		p.fired = true
		seen := map[string]bool{}
		for line := range bytes.Lines(body) {
			var action struct {
				Delete struct {
					Index string `json:"_index"`
				} `json:"delete"`
			}
			if json.Unmarshal(line, &action) == nil && action.Delete.Index != "" && !seen[action.Delete.Index] {
				seen[action.Delete.Index] = true
				req, _ := http.NewRequest(http.MethodDelete, p.osURL+"/"+action.Delete.Index, nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return nil, err
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					p.gone = append(p.gone, action.Delete.Index)
				}
			}
		}
	}
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !first {
		return res, err
	}
	reply, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	p.reply = string(reply)
	res.Body = io.NopCloser(bytes.NewReader(reply))
	return res, nil
}

func (p *retentionUnderBulk) struck() ([]string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.gone), p.reply
}

// TestDeletionGoesOnWhenRetentionDeletesAnIndexUnderAPage: enrich's
// retention deletes whole daily indices, at any moment. When it deletes an
// index between a deletion page's search and its _bulk, every delete of
// that page answers 404 and the page deletes nothing. That must not end
// the job: the person's events in the other daily indices are still there.
// Before, the page's 0 deleted was taken for "none left", the job completed
// and the person's other events stayed searchable.
func TestDeletionGoesOnWhenRetentionDeletesAnIndexUnderAPage(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	// u7's events on three days: three daily indices.
	var docs []eventdoc.Source
	for day := range 3 {
		for i := range 2 {
			at := base.Add(time.Duration(day-1)*24*time.Hour + time.Duration(i)*time.Minute)
			id := fmt.Sprintf("a-u7-%d-%d", day, i)
			docs = append(docs, eventdoc.Source{DocID: eventdoc.ID("app-a", id), AppID: "app-a", EventID: id, UserID: "u7",
				EventName: "tap", Timestamp: at, ClientTimestamp: at, ReceivedAt: at, IngestedAt: at})
		}
	}
	index(t, osURL, prefix, docs...)
	countU7 := func() int {
		hits, err := testenv.Sources(t, osURL, eventdoc.Pattern(prefix), `{"size":100,"query":{"term":{"user_id":"u7"}}}`)
		if err != nil {
			t.Fatal(err)
		}
		return len(hits)
	}
	if n := countU7(); n != 6 {
		t.Fatalf("u7 has %d events before the deletion, want 6", n)
	}

	retention := &retentionUnderBulk{osURL: osURL}
	proxy := httptest.NewServer(&httputil.ReverseProxy{Transport: retention, Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse(osURL)
		r.SetURL(u)
	}})
	t.Cleanup(proxy.Close)
	// One event a page: the first page's index is deleted under it, while
	// u7's events on the two other days are left.
	vars := deletionVars(t, prefix, map[string]string{"QUERY_DELETE_PAGE_SIZE": "1", "QUERY_DELETE_PAGE_INTERVAL": "0", "QUERY_DELETE_POLL": "100ms"})
	q := runQuery(t, proxy.URL, prefix, vars)
	res, err := q.grpc.DeleteUser(authed(tokenDelete), &queryv1.DeleteUserRequest{AppId: "app-a", UserId: "u7"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.GetJob().GetJobId()
	testenv.EventuallyState(t, 60*time.Second, "the job completed", func() (bool, string) {
		j, err := q.grpc.GetDeletion(authed(tokenDelete), &queryv1.GetDeletionRequest{JobId: id})
		return err == nil && j.GetJob().GetState() == queryv1.DeletionState_DELETION_STATE_COMPLETED, fmt.Sprintf("%v %v", j, err)
	})
	gone, reply := retention.struck()
	if len(gone) == 0 || !strings.Contains(reply, `"status":404`) || strings.Contains(reply, `"status":200`) {
		t.Fatalf("the fault did not strike: indices deleted under the first page %v, its bulk answered %s", gone, reply)
	}
	if n := countU7(); n != 0 {
		j, _ := q.grpc.GetDeletion(authed(tokenDelete), &queryv1.GetDeletionRequest{JobId: id})
		t.Fatalf("the job completed (%v) after retention deleted %v under its first page (answered %s), "+
			"with %d of u7's events still searchable in the other days' indices", j.GetJob(), gone, reply, n)
	}
}

// TestDeletionWaitsWhileAnIndexIsClosed: an operator may close a daily
// index (to save the node's memory, say), event or dead-letter. A closed
// index cannot be searched or written, so a deletion can neither count nor
// delete what the person has in it; wildcard searches pass over closed
// indices without a word. A deletion must therefore not complete while an
// index of the prefix is closed — it says which and why, and goes on once
// the index is opened (or deleted). Before, the job completed at once and
// the person's events and letters were back when the index was reopened.
func TestDeletionWaitsWhileAnIndexIsClosed(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixturesWithDeadLetters(t)
	// u8: two events a day on two days, and a dead letter.
	var docs []eventdoc.Source
	for day := range 2 {
		for i := range 2 {
			at := base.Add(time.Duration(day)*24*time.Hour + time.Duration(i)*time.Minute)
			id := fmt.Sprintf("a-u8-%d-%d", day, i)
			docs = append(docs, eventdoc.Source{DocID: eventdoc.ID("app-a", id), AppID: "app-a", EventID: id, UserID: "u8",
				EventName: "tap", Timestamp: at, ClientTimestamp: at, ReceivedAt: at, IngestedAt: at})
		}
	}
	index(t, osURL, prefix, docs...)
	now := time.Now().UTC()
	letterDoc, _ := json.Marshal(map[string]string{"app_id": "app-a", "event_id": "dl-u8", "user_id": "u8", "event_name": "refused"})
	letter, _ := json.Marshal(eventdoc.DeadLetter{DocID: eventdoc.ID("app-a", "dl-u8"), AppID: "app-a", EventID: "dl-u8",
		Index: eventdoc.IndexName(prefix, now), Status: 400, ErrorType: "mapper_parsing_exception", ErrorReason: "test", FailedAt: now, Document: letterDoc})
	var body opensearchx.BulkBody
	body.Create(eventdoc.DeadLetterIndex(prefix, now), eventdoc.ID("app-a", "dl-u8"), letter)
	testenv.Bulk(t, osURL, &body)
	testenv.Refresh(t, osURL, eventdoc.DeadLetterPattern(prefix))

	// What u8 has, closed indices included (each is opened before this is
	// asked at the end).
	left := func() (events, letters int) {
		ev, err := testenv.Sources(t, osURL, eventdoc.Pattern(prefix), `{"size":100,"query":{"term":{"user_id":"u8"}}}`)
		if err != nil {
			t.Fatal(err)
		}
		dls, err := testenv.Sources(t, osURL, eventdoc.DeadLetterPattern(prefix), `{"size":100,"query":{"term":{"event_id":"dl-u8"}}}`)
		if err != nil {
			t.Fatal(err)
		}
		return len(ev), len(dls)
	}
	if ev, dls := left(); ev != 4 || dls != 1 {
		t.Fatalf("u8 has %d events and %d letters before the deletion, want 4 and 1", ev, dls)
	}
	closedEvents, closedLetters := eventdoc.IndexName(prefix, base.Add(24*time.Hour)), eventdoc.DeadLetterIndex(prefix, now)
	for _, index := range []string{closedEvents, closedLetters} {
		if b := testenv.Do(t, osURL, http.MethodPost, "/"+index+"/_close", ""); !strings.Contains(string(b), `"closed":true`) {
			t.Fatalf("closing %s: %s", index, b)
		}
	}
	reopen := func(index string) {
		t.Helper()
		testenv.Do(t, osURL, http.MethodPost, "/"+index+"/_open?wait_for_active_shards=1", "")
		testenv.EventuallyState(t, 30*time.Second, index+" searchable again", func() (bool, string) {
			_, err := testenv.Sources(t, osURL, index, `{"size":0}`)
			return err == nil, fmt.Sprint(err)
		})
	}

	vars := deletionVars(t, prefix, map[string]string{"QUERY_DELETE_POLL": "100ms", "QUERY_DELETE_PAGE_INTERVAL": "0"})
	q := runQuery(t, osURL, prefix, vars)
	res, err := q.grpc.DeleteUser(authed(tokenDelete), &queryv1.DeleteUserRequest{AppId: "app-a", UserId: "u8"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.GetJob().GetJobId()
	// waitBlockedBy waits until the job either completed or says it cannot
	// go on because index is closed; it fails the test in the first case.
	waitBlockedBy := func(index string, stillClosed ...string) {
		t.Helper()
		var job storedJob
		testenv.EventuallyState(t, 60*time.Second, "the job completed, or blocked by the closed "+index, func() (bool, string) {
			j, ok := readJob(t, osURL, prefix, id)
			job = j
			return ok && (j.State == "completed" || strings.Contains(j.LastError, index)), fmt.Sprintf("%+v", j)
		})
		if job.State == "completed" {
			for _, index := range stillClosed {
				reopen(index)
			}
			ev, dls := left()
			t.Fatalf("the job completed (%+v) while %v were closed: reopened, they hold %d of u8's events and %d letters", job, stillClosed, ev, dls)
		}
		if !strings.Contains(job.LastError, "closed") {
			t.Fatalf("the job's error %q does not say the index is closed", job.LastError)
		}
	}
	waitBlockedBy(closedEvents, closedEvents, closedLetters)
	reopen(closedEvents)
	waitBlockedBy(closedLetters, closedLetters)
	reopen(closedLetters)
	testenv.EventuallyState(t, 60*time.Second, "the job completed", func() (bool, string) {
		j, ok := readJob(t, osURL, prefix, id)
		return ok && j.State == "completed", fmt.Sprintf("%+v", j)
	})
	j, err := q.grpc.GetDeletion(authed(tokenDelete), &queryv1.GetDeletionRequest{JobId: id})
	if err != nil || j.GetJob().GetTotal() != 5 || j.GetJob().GetDeleted() != 5 {
		t.Fatalf("completed job %v %v: want u8's 4 events and 1 letter found and deleted", j, err)
	}
	if ev, dls := left(); ev != 0 || dls != 0 {
		t.Fatalf("after the job, u8 has %d events and %d letters", ev, dls)
	}
}

// TestSuppressionKeptWhileABatchReceivedInsideItWaits: enrich judges a
// suppression's end by when ingest received an event, so an entry still
// decides about every batch received before its end that waits in the
// events stream (behind a backlog: OpenSearch away, enrich down). The
// query service removes expired entries (at start, then hourly): it must
// not remove one while the stream still holds a batch that may have been
// received before its end — that batch would then be stored. Before, an
// entry was removed as soon as its end had passed.
func TestSuppressionKeptWhileABatchReceivedInsideItWaits(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	stream := strings.ToUpper(strings.ReplaceAll(prefix, "-", "_")) + "_EVENTS"
	vars := deletionVars(t, prefix, map[string]string{"EVENTS_STREAM": stream})
	js := testenv.JetStream(t)
	t.Cleanup(func() { testenv.DeleteStream(t, testenv.NATSURL(t), stream) })
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: stream, Subjects: []string{stream + ".>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	// A batch received now, waiting for enrich.
	if _, err := js.Publish(t.Context(), stream+".app-a", []byte("a batch")); err != nil {
		t.Fatal(err)
	}
	b, err := suppression.Open(t.Context(), js, vars["SUPPRESSION_BUCKET"], 1)
	if err != nil {
		t.Fatal(err)
	}
	// Ended before the batch was received: nothing waiting needs it.
	longGone := suppression.Subject{AppID: "app-a", Kind: suppression.KindUserID, ID: "long-gone"}
	if _, err := b.Suppress(t.Context(), []suppression.Subject{longGone}, time.Now().Add(-3*time.Hour), "job-1"); err != nil {
		t.Fatal(err)
	}
	// Ends after the batch was received, and is over when the query
	// service starts: the batch may be this person's, received inside it.
	justGone := suppression.Subject{AppID: "app-a", Kind: suppression.KindUserID, ID: "just-gone"}
	justEnded := time.Now()
	if _, err := b.Suppress(t.Context(), []suppression.Subject{justGone}, justEnded, "job-2"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the second entry's end passed", func() bool { return time.Now().After(justEnded) })
	kv, err := js.KeyValue(t.Context(), vars["SUPPRESSION_BUCKET"])
	if err != nil {
		t.Fatal(err)
	}
	held := func(s suppression.Subject) bool {
		_, err := kv.Get(t.Context(), s.Key())
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	q := runQuery(t, osURL, prefix, vars) // removes expired entries at start
	testenv.EventuallyState(t, 30*time.Second, "the start's removal pass done", func() (bool, string) {
		n, _ := metric(q.scrape(t), "query_suppressions_expired_total")
		return n >= 1, fmt.Sprintf("query_suppressions_expired_total %v", n)
	})
	if held(longGone) {
		t.Fatal("an entry that ended before anything in the stream was received is kept")
	}
	if !held(justGone) {
		t.Fatal("the entry that ended after the waiting batch was received was removed: that batch, if the person's, would be stored")
	}
}

// writeFixturesWithDeadLetters is writeFixtures with the dead-letter
// template of the prefix in place too.
func writeFixturesWithDeadLetters(t *testing.T) (osURL, prefix string) {
	t.Helper()
	osURL, prefix = writeFixtures(t)
	dl, err := templates.DeadLetter(prefix)
	if err != nil {
		t.Fatal(err)
	}
	testenv.PutJSON(t, osURL, "/_index_template/"+dl.Name, string(dl.Body))
	return osURL, prefix
}
