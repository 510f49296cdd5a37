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

	"github.com/evtrack/telemetry/platform/testenv"
)

// TestEnrichKilledAndSharedConsumer: two enrich processes share the durable
// consumer; one is killed with SIGKILL mid-stream and started again. Nothing
// accepted is lost or written twice.
func TestEnrichKilledAndSharedConsumer(t *testing.T) {
	s := newStack(t, testenv.NATSURL(t), "")
	s.ingest(nil)
	first, _ := s.enrich(nil)
	s.enrich(nil) // the second instance on the same consumer
	l := s.startLoad(30, 12*time.Second)
	time.Sleep(4 * time.Second)
	if err := first.signal(syscall.SIGKILL); err == nil {
		t.Log("enrich exited cleanly on SIGKILL?")
	}
	t.Log("enrich #1 killed with SIGKILL")
	time.Sleep(3 * time.Second)
	first.restart()
	t.Log("enrich #1 started again")
	s.account(l, 60*time.Second)
}

// TestNATSKilledUnderLoad: the broker is killed under load and restarted on
// the same port and store. Meanwhile ingest answers 503 (nothing claimed);
// afterwards it accepts again by itself, and enrich resumes.
func TestNATSKilledUnderLoad(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	nats := startNATS(t, dir, addr)
	s := newStack(t, "nats://"+addr, "")
	s.ingest(nil)
	s.enrich(nil)
	l := s.startLoad(30, 14*time.Second)
	time.Sleep(4 * time.Second)
	_ = nats.signal(syscall.SIGKILL)
	t.Log("nats-server killed with SIGKILL")
	time.Sleep(3 * time.Second)
	nats.restart()
	t.Log("nats-server started again")
	res, _ := s.account(l, 60*time.Second)
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
	time.Sleep(3 * time.Second)
	err := ingest.signal(syscall.SIGTERM)
	t.Logf("ingest sent SIGTERM; exit: %v", err)
	if err != nil {
		t.Errorf("ingest did not exit cleanly on SIGTERM: %v", err)
	}
	res, _ := s.account(l, 60*time.Second)
	for code := range res.Statuses {
		if code != "202" && code != "503" && !strings.HasPrefix(code, "retry-") {
			t.Errorf("unexpected status %s during shutdown: %v", code, res.Statuses)
		}
	}
}

// TestOpenSearchOutageAndSlowness: OpenSearch is unreachable for a while,
// then slow, under load. Enrich backs off and drains afterwards; its memory
// stays bounded; the backlog is visible in its metrics.
func TestOpenSearchOutageAndSlowness(t *testing.T) {
	proxy := testenv.NewProxy(t, strings.TrimPrefix(testenv.OpenSearchURL(t), "http://"))
	s := newStack(t, testenv.NATSURL(t), "http://"+proxy.Addr())
	s.ingest(nil)
	enrich, metricsURL := s.enrich(nil)
	l := s.startLoad(30, 16*time.Second)
	time.Sleep(2 * time.Second)
	proxy.Down()
	t.Log("OpenSearch unreachable")
	var maxRSS int64
	var maxPending float64
	sample := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			maxRSS = max(maxRSS, enrich.rssBytes())
			maxPending = max(maxPending, metric(t, metricsURL+"/metrics", "enrich_consumer_pending_messages")+
				metric(t, metricsURL+"/metrics", "enrich_consumer_ack_pending_messages"))
		}
	}
	sample(6 * time.Second)
	proxy.Up()
	proxy.SetLatency(20 * time.Millisecond)
	t.Log("OpenSearch back, but slow (20 ms per chunk)")
	sample(5 * time.Second)
	proxy.SetLatency(0)
	t.Log("OpenSearch back to normal")
	s.account(l, 90*time.Second)
	t.Logf("enrich peak RSS %d MiB, peak backlog %.0f messages, bulk failures %.0f", maxRSS>>20, maxPending,
		metric(t, metricsURL+"/metrics", "enrich_bulk_failures_total"))
	if maxRSS > 300<<20 {
		t.Errorf("enrich RSS reached %d MiB", maxRSS>>20)
	}
	if maxPending <= 0 {
		t.Errorf("the backlog never showed in enrich's metrics")
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
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				mu.Lock()
				peak = max(peak, ingest.rssBytes())
				mu.Unlock()
			}
		}
	}()
	wg.Wait()
	close(stop)
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
