package service

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// bodyLimit is a reverse proxy in front of the real OpenSearch that answers
// 413 to request bodies over its limit, as nginx (client_max_body_size) or
// a managed cluster's HTTP payload limit does.
type bodyLimit struct {
	URL     string
	refused atomic.Int64
}

func newBodyLimit(t *testing.T, osURL string, limit int64) *bodyLimit {
	t.Helper()
	target, err := url.Parse(osURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	b := &bodyLimit{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			b.refused.Add(1)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = io.WriteString(w, "<html><head><title>413 Request Entity Too Large</title></head><body>"+
				"<center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>\n")
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

// TestPoisonMessageIsDeadLettered: OpenSearch sits behind a proxy refusing
// bodies over 32 KiB; one event of a message is 40 KiB, so every request
// carrying it is refused with 413, whatever enrich does. The message is
// redelivered with a growing delay and, on delivery ENRICH_MAX_DELIVER, that
// document goes to the dead-letter index (without its body, which no
// request can carry) with the reason and the number of deliveries; the
// message's other events, created on the first delivery, stay, once; the
// message is acked, and a message published behind it is indexed.
func TestPoisonMessageIsDeadLettered(t *testing.T) {
	t.Parallel()
	proxy := newBodyLimit(t, testenv.OpenSearchURL(t), 32<<10)
	e := startEnrichWith(t, map[string]string{"OPENSEARCH_URL": proxy.URL, "ENRICH_BULK_MAX_BYTES": "16384",
		"ENRICH_MAX_DELIVER": "3", "ENRICH_RETRY_DELAY": "100ms", "ENRICH_MAX_RETRY_DELAY": "400ms"})
	day := time.Now().UTC().Add(-time.Hour)
	poisoned := batchOf(3, day)
	poisoned.BatchId = "poisoned"
	poisoned.Events = append(poisoned.Events, &telemetryv1.Event{EventId: "poison", UserId: "u1", EventName: "tap",
		ClientTimestamp: timestamppb.New(day), Message: strings.Repeat("p", 40<<10)})
	e.publish(t, poisoned, "poisoned")
	behind := batchOf(5, day)
	behind.BatchId = "behind"
	for _, ev := range behind.Events {
		ev.EventId = "later-" + ev.EventId
	}
	e.publish(t, behind, "behind")

	var letters []map[string]any
	testenv.Eventually(t, 30*time.Second, "the poison event in the dead-letter index", func() bool {
		var err error
		letters, err = e.query(t, eventdoc.DeadLetterPattern(e.prefix))
		return err == nil && len(letters) > 0
	})
	e.waitDrained(t)
	if len(letters) != 1 {
		t.Fatalf("dead letters %v", letters)
	}
	l := letters[0]
	if l["event_id"] != "poison" || l["status"] != 413.0 || l["deliveries"] != 3.0 || l["document_omitted"] != true ||
		l["document_bytes"].(float64) < 40<<10 || l["stream_sequence"] != 1.0 ||
		!strings.Contains(l["error_reason"].(string), "given up on delivery 3 of 3") {
		t.Fatalf("dead letter %v", l)
	}
	ids := map[string]int{}
	for _, d := range e.docs(t) {
		ids[d["event_id"].(string)]++
	}
	want := map[string]int{"e0": 1, "e1": 1, "e2": 1, "later-e0": 1, "later-e1": 1, "later-e2": 1, "later-e3": 1, "later-e4": 1}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("indexed %v, want %v", ids, want)
	}
	body := metricsBody(t, e)
	if got := metricValue(body, `enrich_messages_total{outcome="dead_lettered"}`); got != 1 {
		t.Errorf("dead-lettered messages %v, want 1", got)
	}
	if got := metricValue(body, `enrich_messages_total{outcome="redelivered"}`); got != 2 {
		t.Errorf("redeliveries %v, want 2 (deliveries 1 and 2 spent)", got)
	}
	// The fault struck: every delivery's request with the poison event was
	// refused, and so was the first dead letter (with its body).
	if n := proxy.refused.Load(); n < 4 {
		t.Errorf("the proxy refused %d requests; want at least 4", n)
	}
}

// deadLetters returns every dead letter of the test's prefix.
func (e *env) deadLetters(t *testing.T) []map[string]any {
	return e.search(t, eventdoc.DeadLetterPattern(e.prefix))
}

// metricValue reads one sample of a Prometheus text exposition (0 if absent).
func metricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}
