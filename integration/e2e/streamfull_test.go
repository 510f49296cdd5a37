package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// TestFullStreamLosesNothing: with enrich stopped the stream fills to its
// limit and ingest refuses further batches (503 stream_full, Retry-After)
// instead of discarding acknowledged ones; once enrich starts, every event
// answered 202 is indexed exactly once, and ingest accepts again.
func TestFullStreamLosesNothing(t *testing.T) {
	n := newNames(t, "full", otelx.ForTest(noop.NewTracerProvider()), map[string]string{
		"EVENTS_STREAM_MAX_MSGS": "20",
	})
	in := n.Ingest()
	url := "http://" + in.Addr() + "/v1/track"

	// Ten events a batch until the stream refuses one.
	accepted := map[string]bool{}
	post := func(batch int) (int, string) {
		var events []string
		for i := range 10 {
			events = append(events, fmt.Sprintf(`{"event_id":"b%d-%d","user_id":"u1","event_name":"tap","client_timestamp":%q}`,
				batch, i, time.Now().UTC().Format(time.RFC3339Nano)))
		}
		status, body := do(t, http.MethodPost, url, "Bearer "+writeKey, "["+strings.Join(events, ",")+"]")
		if status == http.StatusAccepted {
			var res struct{ Accepted int }
			if err := json.Unmarshal([]byte(body), &res); err != nil || res.Accepted != 10 {
				t.Fatalf("batch %d: %s", batch, body)
			}
			for i := range 10 {
				accepted[fmt.Sprintf("b%d-%d", batch, i)] = true
			}
		}
		return status, body
	}
	refused := 0
	for b := 0; b < 25; b++ {
		status, body := post(b)
		switch {
		case status == http.StatusAccepted:
		case status == http.StatusServiceUnavailable && strings.Contains(body, "stream_full"):
			refused++
		default:
			t.Fatalf("batch %d: %d %s", b, status, body)
		}
	}
	if len(accepted) != 200 || refused != 5 {
		t.Fatalf("%d events accepted and %d batches refused; want 200 (the stream's 20 batches) and 5", len(accepted), refused)
	}

	// Enrich starts: the stream drains into OpenSearch.
	n.Enrich()
	var ids map[string]int
	testenv.EventuallyState(t, 60*time.Second, fmt.Sprintf("the %d accepted events indexed", len(accepted)), func() (bool, string) {
		var err error
		ids, err = indexedIDs(t, n.OpenSearchURL, n.Prefix)
		switch {
		case errors.Is(err, opensearchx.ErrUnavailable):
			// A daily index enrich has just created answers 503 until
			// its shard has started: not yet.
			return false, err.Error()
		case err != nil:
			t.Fatal(err)
		}
		return len(ids) >= len(accepted), fmt.Sprintf("%d distinct event ids indexed", len(ids))
	})
	lost, doubled := 0, 0
	for id := range accepted {
		switch ids[id] {
		case 0:
			lost++
		case 1:
		default:
			doubled++
		}
	}
	t.Logf("accepted %d, indexed %d distinct, lost %d, duplicated %d, refused %d batches while full", len(accepted), len(ids), lost, doubled, refused)
	if lost != 0 || doubled != 0 || len(ids) != len(accepted) {
		t.Fatalf("lost %d, duplicated %d, indexed %d ids for %d accepted", lost, doubled, len(ids), len(accepted))
	}
	// Indexed batches left the work queue: ingest accepts again.
	if status, body := post(100); status != http.StatusAccepted {
		t.Fatalf("after the drain: %d %s", status, body)
	}
}

// indexedIDs counts the documents of every event_id under prefix's daily
// indices; an error wraps opensearchx.ErrUnavailable when the cluster could
// not answer yet.
func indexedIDs(t *testing.T, osURL, prefix string) (map[string]int, error) {
	t.Helper()
	ids := map[string]int{}
	err := loadgen.ScanEventIDs(context.Background(), testenv.OpenSearch(t, osURL), eventdoc.Pattern(prefix), "",
		func(_, eventID string, docs int64) { ids[eventID] += int(docs) })
	return ids, err
}
