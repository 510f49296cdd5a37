package faults

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/promscrape"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestEnrichKilledAndSharedConsumer: two enrich processes share the durable
// consumer; one is killed with SIGKILL while it holds unacknowledged
// messages, and started again. Nothing accepted is lost or written twice.
func TestEnrichKilledAndSharedConsumer(t *testing.T) {
	s := newStack(t, testenv.NATSURL(t), "")
	s.ingest(nil)
	// #1 waits 2 s for its fetches to fill (its workers flush together), so
	// between flushes it holds delivered, unacknowledged messages.
	first, firstURL := s.enrich(map[string]string{"ENRICH_FLUSH_INTERVAL": "2s"})
	s.enrich(nil) // the second instance on the same consumer
	l := s.startLoad(30, 12*time.Second)
	// Kill #1 mid-batch: after one of its flushes, once the consumer has
	// delivered 20 more messages (shared between the two) while #1 has acked
	// none of them.
	var before *njs.ConsumerInfo
	lastAcked, from := 0.0, uint64(0)
	testenv.Eventually(t, 30*time.Second, "enrich #1 holding messages between flushes", func() bool {
		acked := metric(firstURL+"/metrics", "enrich_messages_total", promscrape.Labels{"outcome": "acked"})
		c, err := s.consumerInfo()
		if err != nil {
			return false
		}
		if acked <= 0 || acked != lastAcked { // nothing indexed yet, or a flush: count afresh
			lastAcked, from = acked, c.Delivered.Stream
			return false
		}
		before = c
		return c.Delivered.Stream >= from+20
	})
	if err := first.Signal(syscall.SIGKILL); err == nil {
		t.Log("enrich exited cleanly on SIGKILL?")
	}
	t.Logf("enrich #1 killed with SIGKILL, %d messages delivered since its last flush; the consumer had %d unacknowledged",
		before.Delivered.Stream-from, before.NumAckPending)
	// #1 stays down until #2 alone has taken a second of load (30 messages).
	s.waitConsumer(20*time.Second, "advanced without enrich #1", func(c *njs.ConsumerInfo) bool {
		return c.Delivered.Stream >= before.Delivered.Stream+30
	})
	restart(t, first)
	t.Log("enrich #1 started again")
	_, _, drained := s.account(l, 60*time.Second)
	// Every message was delivered once, and once more for each redelivery:
	// the messages #1 held when it was killed must have been redelivered.
	redelivered := drained.Delivered.Consumer - drained.Delivered.Stream
	t.Logf("%d messages, %d deliveries: %d redelivered", drained.Delivered.Stream, drained.Delivered.Consumer, redelivered)
	if redelivered == 0 {
		t.Errorf("no message was redelivered: the kill struck no message in flight, so it did not test a crash mid-batch")
	}
}

// TestNATSKilledUnderLoad: the broker is killed under load, with messages
// enrich has not finished, and restarted on the same port and store.
// Meanwhile ingest answers 503 (nothing claimed); afterwards it accepts
// again by itself, and enrich resumes.
func TestNATSKilledUnderLoad(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	nats := startNATS(t, dir, addr)
	s := newStack(t, "nats://"+addr, "")
	s.ingest(nil)
	s.enrich(nil)
	l := s.startLoad(30, 14*time.Second)
	before := s.waitConsumer(20*time.Second, "with messages stored and some not yet acknowledged", func(c *njs.ConsumerInfo) bool {
		return c.Delivered.Stream >= 60 && c.NumPending+uint64(c.NumAckPending) > 0
	})
	_ = nats.Signal(syscall.SIGKILL)
	t.Logf("nats-server killed with SIGKILL; %d messages stored, %d not yet delivered, %d unacknowledged",
		before.Delivered.Stream+before.NumPending, before.NumPending, before.NumAckPending)
	// Down until ingest has answered 503 for it.
	testenv.Eventually(t, 20*time.Second, "ingest answering 503 while the broker is down", func() bool {
		return metric(s.ingestHTTP+"/metrics", "ingest_requests_total", promscrape.Labels{"status": "503"}) > 0
	})
	restart(t, nats.Proc)
	t.Log("nats-server started again")
	res, _, _ := s.account(l, 60*time.Second)
	if res.Statuses["503"] == 0 {
		t.Errorf("no 503 while the broker was down: %v", res.Statuses)
	}
	if res.Statuses["202"] == 0 {
		t.Errorf("nothing accepted: %v", res.Statuses)
	}
}

// TestIngestSIGTERMUnderLoad: ingest gets SIGTERM under load. In-flight
// requests complete (202) or fail cleanly (503 or a refused connection); the
// process exits 0; every 202 is indexed.
func TestIngestSIGTERMUnderLoad(t *testing.T) {
	s := newStack(t, testenv.NATSURL(t), "")
	ingest := s.ingest(nil)
	s.enrich(nil)
	l := s.startLoad(40, 8*time.Second)
	testenv.Eventually(t, 20*time.Second, "load accepted", func() bool { return l.watcher.AcceptedEvents() >= 4000 }) // a second of load
	accepted := l.watcher.AcceptedEvents()
	err := ingest.Signal(syscall.SIGTERM)
	t.Logf("ingest sent SIGTERM after %d events accepted; exit: %v", accepted, err)
	if err != nil {
		t.Errorf("ingest did not exit cleanly on SIGTERM: %v", err)
	}
	res, _, _ := s.account(l, 60*time.Second)
	for code := range res.Statuses {
		if code != "202" && code != "503" && !strings.HasPrefix(code, "retry-") {
			t.Errorf("unexpected status %s during shutdown: %v", code, res.Statuses)
		}
	}
	// The load went on past the exit: requests met a closing or closed ingest.
	if res.TransportErrs+int64(res.Statuses["503"]) == 0 {
		t.Errorf("no request failed: the SIGTERM did not strike under load (%v)", res.Statuses)
	}
}

// TestOpenSearchOutageAndSlowness: OpenSearch is unreachable for a while,
// then slow, under load. Enrich backs off and drains afterwards; its memory
// stays bounded; the backlog is visible in its metrics.
func TestOpenSearchOutageAndSlowness(t *testing.T) {
	proxy := testenv.NewProxy(t, strings.TrimPrefix(testenv.OpenSearchURL(t), "http://"))
	s := newStack(t, testenv.NATSURL(t), "http://"+proxy.Addr())
	s.ingest(nil)
	enrich, enrichURL := s.enrich(nil)
	metrics := enrichURL + "/metrics"
	created := func() float64 {
		return metric(metrics, "enrich_documents_total", promscrape.Labels{"outcome": "created"})
	}
	l := s.startLoad(30, 16*time.Second)
	testenv.Eventually(t, 20*time.Second, "enrich indexing", func() bool { return created() > 0 })
	proxy.Down()
	t.Log("OpenSearch unreachable")
	var maxRSS int64
	var maxPending float64
	// sample records enrich's RSS and backlog every 100 ms until done holds;
	// after within it fails the test.
	sample := func(within time.Duration, what string, done func() bool) {
		t.Helper()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(within); ; <-tick.C {
			maxRSS = max(maxRSS, rssBytes(enrich))
			maxPending = max(maxPending, metric(metrics, "enrich_consumer_pending_messages", nil)+metric(metrics, "enrich_consumer_ack_pending_messages", nil))
			if done() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not %s within %s (peak backlog %.0f)", what, within, maxPending)
			}
		}
	}
	// Down until bulks have failed and the backlog shows in the metrics
	// (its gauges are read from the consumer every 5 s).
	sample(30*time.Second, "a backlog while OpenSearch is down", func() bool {
		return metric(metrics, "enrich_bulk_failures_total", nil) > 0 && maxPending > 0
	})
	proxy.Up()
	proxy.SetLatency(20 * time.Millisecond)
	t.Log("OpenSearch back, but slow (20 ms per chunk)")
	slowFrom := created()
	sample(30*time.Second, "documents indexed through the slow OpenSearch", func() bool { return created() >= slowFrom+1000 })
	proxy.SetLatency(0)
	t.Log("OpenSearch back to normal")
	s.account(l, 90*time.Second)
	t.Logf("enrich peak RSS %d MiB, peak backlog %.0f messages, bulk failures %.0f", maxRSS>>20, maxPending,
		metric(metrics, "enrich_bulk_failures_total", nil))
	if maxRSS > 300<<20 {
		t.Errorf("enrich RSS reached %d MiB", maxRSS>>20)
	}
}

// TestHostileCorpusAgainstProcess replays malformed, oversized and hostile
// bodies at a running ingest: only 4xx answers, it stays ready, and its RSS
// stays bounded.
func TestHostileCorpusAgainstProcess(t *testing.T) {
	s := newStack(t, testenv.NATSURL(t), "")
	ingest := s.ingest(nil)
	bomb := func() []byte {
		var member bytes.Buffer
		w, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
		w.Write(bytes.Repeat([]byte{'0'}, 1<<20))
		w.Close()
		return bytes.Repeat(member.Bytes(), 900)
	}()
	ev := `{"event_id":"x","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z"`
	corpus := []struct {
		name     string
		encoding string
		body     []byte
	}{
		{"gzip bomb", "gzip", bomb},
		{"not json", "", []byte(`{{{{`)},
		{"deep nesting", "", []byte(strings.Repeat("[", 200000) + strings.Repeat("]", 200000))},
		{"invalid utf-8", "", []byte("[" + ev[:len(ev)-1] + "\xff\xfe\"}]")},
		{"wrong types", "", []byte(`[{"event_id":1,"user_id":[],"event_name":{},"client_timestamp":true}]`)},
		{"huge metadata", "", []byte("[" + ev + `,"metadata":{` + strings.TrimSuffix(strings.Repeat(`"k":"`+strings.Repeat("v", 2000)+`",`, 400), ",") + "}}]")},
		{"too many events", "", []byte("[" + strings.TrimSuffix(strings.Repeat(ev+"},", 1001), ",") + "]")},
		{"NUL", "", []byte("\x00\x00\x00")},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				for _, c := range corpus {
					req, _ := http.NewRequest(http.MethodPost, s.ingestHTTP+"/v1/track", bytes.NewReader(c.body))
					req.Header.Set("Authorization", "Bearer "+writeKey)
					req.Header.Set("Content-Type", "application/json")
					if c.encoding != "" {
						req.Header.Set("Content-Encoding", c.encoding)
					}
					res, err := http.DefaultClient.Do(req)
					code := 0
					if err == nil {
						code = res.StatusCode
						res.Body.Close()
					}
					mu.Lock()
					statuses[code]++
					mu.Unlock()
				}
			}
		}()
	}
	var peak int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				peak = max(peak, rssBytes(ingest))
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-stopped
	t.Logf("%d hostile requests, statuses %v, ingest peak RSS %d MiB", 8*10*len(corpus), statuses, peak>>20)
	for code := range statuses {
		if code < 400 || code >= 500 {
			t.Errorf("status %d for hostile input: %v", code, statuses)
		}
	}
	if peak > 384<<20 {
		t.Errorf("ingest RSS reached %d MiB", peak>>20)
	}
	waitReady(t, s.ingestHTTP+"/readyz", 5*time.Second)
}
