package deadletter_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/deadletter"
	"github.com/evtrack/telemetry/services/enrich/internal/templates"
)

// TestReplayDeletesTheLettersOfSuppressedPeople: a letter of a person on
// the suppression list (by user id, or by anonymous id) leaves the
// dead-letter index without being written back; another person's is
// replayed, and so is one of the person's received after the suppression
// ended (an entry's end is judged by when ingest received the event).
func TestReplayDeletesTheLettersOfSuppressedPeople(t *testing.T) {
	t.Parallel()
	osURL, prefix, c, b := suppressedReplay(t, "dls")
	ctx := context.Background()
	if _, err := b.Suppress(ctx, []suppression.Subject{{AppID: "shop", Kind: suppression.KindUserID, ID: "gone"},
		{AppID: "shop", Kind: suppression.KindAnonymousID, ID: "anon-gone"}}, time.Now().Add(time.Hour), "job"); err != nil {
		t.Fatal(err)
	}
	set := watchSet(t, b)

	now := time.Now().UTC()
	day := eventdoc.IndexName(prefix, now)
	doc := func(id, user, anon string) json.RawMessage {
		return json.RawMessage(`{"doc_id":"` + id + `","app_id":"shop","event_id":"` + id + `","user_id":"` + user + `","anonymous_id":"` + anon +
			`","event_name":"tap","timestamp":"` + now.Format(time.RFC3339) + `","received_at":"` + now.Format(time.RFC3339) + `"}`)
	}
	// Its dates as enrich writes them now, in epoch milliseconds (the
	// others' as documents written before: RFC 3339), and before
	// received_at a date OpenSearch reads (as UTC) but Go does not: one
	// field the replay cannot read must not hide the ones it needs.
	afterTheEnd := json.RawMessage(`{"doc_id":"after-the-end","app_id":"shop","event_id":"after-the-end","user_id":"gone","event_name":"tap","timestamp":` +
		strconv.FormatInt(now.UnixMilli(), 10) + `,"client_timestamp":"2026-11-26T10:00:00","received_at":` + strconv.FormatInt(now.Add(2*time.Hour).UnixMilli(), 10) + `}`)
	letters := []eventdoc.DeadLetter{
		{DocID: "by-user", AppID: "shop", Index: day, Document: doc("by-user", "gone", "")},
		{DocID: "by-anon", AppID: "shop", Index: day, Document: doc("by-anon", "", "anon-gone")},
		{DocID: "kept", AppID: "shop", Index: day, Document: doc("kept", "someone", "")},
		{DocID: "after-the-end", AppID: "shop", Index: day, Document: afterTheEnd},
	}
	rep, err := replayRefused(t, c, osURL, prefix, set, now, letters)
	if err != nil || rep.Suppressed != 2 || rep.Replayed != 2 {
		t.Fatalf("replay: %+v %v, want 2 suppressed and 2 replayed", rep, err)
	}
	if n := testenv.Count(t, osURL, eventdoc.DeadLetterPattern(prefix)); n != 0 {
		t.Fatalf("%d dead letters left, want none", n)
	}
	docs, err := testenv.Sources(t, osURL, prefix+"-*", `{"size":10,"sort":[{"event_id":"asc"}]}`)
	if err != nil || len(docs) != 2 || docs[0]["event_id"] != "after-the-end" || docs[1]["event_id"] != "kept" {
		t.Fatalf("event documents %v %v, want the kept one and the one received after the suppression ended", docs, err)
	}
}

// TestReplayDeletesPseudonymisedLettersOfSuppressedPeople: where enrich
// pseudonymises user ids, a letter holds the document as built, with the
// pseudonym (under the key of the day it failed, the previous one after a
// rotation); the deletion puts the person's pseudonyms on the list
// (suppression.Subject.WithPseudonyms, as the query service records a
// deletion), so the replay deletes their letters instead of writing them
// back as events that the deletion, past its events, would leave behind.
func TestReplayDeletesPseudonymisedLettersOfSuppressedPeople(t *testing.T) {
	t.Parallel()
	osURL, prefix, c, b := suppressedReplay(t, "dlp")
	ctx := context.Background()
	current, _ := pseudonym.ParseKey(strings.Repeat("c1", 32))
	previous, _ := pseudonym.ParseKey(strings.Repeat("b0", 32))
	ring := pseudonym.Ring{Current: current, Previous: []pseudonym.Key{previous}}
	gone := suppression.Subject{AppID: "shop", Kind: suppression.KindUserID, ID: "gone"}
	if _, err := b.Suppress(ctx, gone.WithPseudonyms(ring), time.Now().Add(time.Hour), "job"); err != nil {
		t.Fatal(err)
	}
	set := watchSet(t, b)

	now := time.Now().UTC()
	day := eventdoc.IndexName(prefix, now)
	doc := func(id, user string) json.RawMessage {
		return json.RawMessage(`{"doc_id":"` + id + `","app_id":"shop","event_id":"` + id + `","user_id":"` + user +
			`","event_name":"tap","timestamp":"` + now.Format(time.RFC3339) + `"}`)
	}
	letters := []eventdoc.DeadLetter{
		{DocID: "now-key", AppID: "shop", Index: day, Document: doc("now-key", current.Of("gone"))},
		{DocID: "old-key", AppID: "shop", Index: day, Document: doc("old-key", previous.Of("gone"))},
		{DocID: "kept", AppID: "shop", Index: day, Document: doc("kept", current.Of("someone"))},
	}
	rep, err := replayRefused(t, c, osURL, prefix, set, now, letters)
	if err != nil || rep.Suppressed != 2 || rep.Replayed != 1 {
		t.Fatalf("replay: %+v %v, want the 2 letters of the person suppressed and the other one replayed", rep, err)
	}
	docs, err := testenv.Sources(t, osURL, prefix+"-*", "")
	if err != nil || len(docs) != 1 || docs[0]["event_id"] != "kept" {
		t.Fatalf("event documents %v %v, want only the kept one", docs, err)
	}
}

// suppressedReplay sets up a replay test with a suppression list: its own
// index prefix on the real node with the templates applied, a client, and
// a suppression bucket (with its status bucket) of its own on the real
// JetStream, deleted when the test ends.
func suppressedReplay(t *testing.T, short string) (osURL, prefix string, c *opensearch.Client, b *suppression.Buckets) {
	t.Helper()
	osURL, prefix = testenv.Indices(t, short)
	c = testenv.OpenSearch(t, osURL)
	ctx := context.Background()
	if err := templates.Apply(ctx, c, prefix, 0); err != nil {
		t.Fatal(err)
	}
	js := testenv.JetStream(t)
	bucket := strings.ToUpper(strings.ReplaceAll(prefix, "-", "_"))
	t.Cleanup(func() {
		_ = js.DeleteKeyValue(context.Background(), bucket)
		_ = js.DeleteKeyValue(context.Background(), bucket+suppression.StatusSuffix)
	})
	b, err := suppression.Open(ctx, js, bucket, 1)
	if err != nil {
		t.Fatal(err)
	}
	return osURL, prefix, c, b
}

// replayRefused writes letters, refused at now, into the prefix's
// dead-letter index of that day and replays the prefix's letters with
// set's suppression list.
func replayRefused(t *testing.T, c *opensearch.Client, osURL, prefix string, set *suppression.Set, now time.Time, letters []eventdoc.DeadLetter) (deadletter.Report, error) {
	t.Helper()
	for i := range letters {
		letters[i].Status, letters[i].ErrorType, letters[i].FailedAt = 400, "mapper_parsing_exception", now
	}
	if err := bulk.NewIndexer(c).DeadLetter(t.Context(), eventdoc.DeadLetterIndex(prefix, now), letters); err != nil {
		t.Fatal(err)
	}
	testenv.Refresh(t, osURL, eventdoc.DeadLetterPattern(prefix))
	r := deadletter.New(bulk.NewDeadLetters(c), prefix, 30*24*time.Hour)
	r.Suppress(set, 30*time.Second)
	return r.Replay(t.Context(), deadletter.Filter{}, false)
}

// watchSet is an enrich instance's copy of b's list, kept current until
// the test ends.
func watchSet(t *testing.T, b *suppression.Buckets) *suppression.Set {
	t.Helper()
	set, stop, err := suppression.Watch(context.Background(), b, suppression.SetConfig{Heartbeat: time.Second, Lease: time.Minute, WriteBound: time.Second}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(context.Background()) })
	return set
}
