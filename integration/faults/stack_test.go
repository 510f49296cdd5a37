package faults

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/tools/loadgen"
)

const writeKey = "faults-write-key-0123456789"

// stack names one test's stream, consumer and indices and starts services
// as processes against the given NATS and OpenSearch URLs.
type stack struct {
	t           *testing.T
	name        string
	natsURL     string
	osURL       string // where the services reach OpenSearch (maybe a proxy)
	realOS      string // where the test counts documents
	ingestHTTP  string
	enrichHTTPs []string
}

func newStack(t *testing.T, natsURL, osURL string) *stack {
	t.Helper()
	realOS := testenv.OpenSearchURL(t)
	if osURL == "" {
		osURL = realOS
	}
	s := &stack{t: t, name: testenv.Name(t, "faults"), natsURL: natsURL, osURL: osURL, realOS: realOS}
	testenv.DeleteIndexData(t, realOS, s.name)
	// Runs after the test's processes are stopped: the stream goes too
	// (best effort: a broker of the test's own may be gone by then).
	testenv.DeleteStream(t, natsURL, s.stream())
	return s
}

func (s *stack) common() map[string]string {
	return map[string]string{
		"NATS_URL": s.natsURL, "OPENSEARCH_URL": s.osURL, "LOG_LEVEL": "warn",
		"EVENTS_STREAM": strings.ToUpper(strings.ReplaceAll(s.name, "-", "_")), "EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(s.name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX": s.name, "EVENTS_STREAM_MAX_AGE": "1h",
	}
}

func (s *stack) ingest(extra map[string]string) *procs.Proc {
	s.t.Helper()
	env := s.common()
	addr := testenv.FreeAddr(s.t)
	env["INGEST_HTTP_ADDR"], env["INGEST_GRPC_ADDR"], env["INGEST_WRITE_KEYS"] = addr, testenv.FreeAddr(s.t), writeKey+":app-faults"
	env["INGEST_PUBLISH_TIMEOUT"], env["INGEST_RETRY_AFTER"] = "1s", "1s"
	for k, v := range extra {
		env[k] = v
	}
	p := testenv.StartProc(s.t, procs.Spec{Name: "ingest", Path: bins["ingest"], Env: env})
	s.ingestHTTP = "http://" + addr
	waitProcReady(s.t, p, s.ingestHTTP+"/readyz", 30*time.Second)
	return p
}

func (s *stack) enrich(extra map[string]string) (*procs.Proc, string) {
	s.t.Helper()
	env := s.common()
	addr := testenv.FreeAddr(s.t)
	env["ENRICH_HTTP_ADDR"], env["ENRICH_RETENTION"] = addr, "0"
	env["ENRICH_ACK_WAIT"], env["ENRICH_BULK_TIMEOUT"], env["ENRICH_RETRY_DELAY"], env["ENRICH_MAX_BACKOFF"] = "15s", "10s", "1s", "2s"
	for k, v := range extra {
		env[k] = v
	}
	p := testenv.StartProc(s.t, procs.Spec{Name: "enrich", Path: bins["enrich"], Env: env})
	url := "http://" + addr
	s.enrichHTTPs = append(s.enrichHTTPs, url)
	waitProcReady(s.t, p, url+"/healthz", 30*time.Second)
	return p, url
}

// load is one load-generator run with end-to-end accounting.
type load struct {
	ids     *loadgen.IDs
	watcher *loadgen.Searchable
	run     *loadgen.Background
}

// startLoad sends rate requests/s of 100 events (5% sent twice, as after a
// lost response) for d. The load stops when the test ends, at the latest.
func (s *stack) startLoad(rate float64, d time.Duration) *load {
	s.t.Helper()
	ids := loadgen.NewIDs("f" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
	l := &load{ids: ids, watcher: loadgen.NewSearchable(s.realOS, s.name+"-*", ids)}
	cfg := loadgen.Config{URL: s.ingestHTTP + "/v1/track", WriteKey: writeKey, Concurrency: 8, Rate: rate, Duration: d,
		Templates: 8, Traffic: loadgen.Traffic{BatchSize: 100, Users: 1000}, Timeout: 5 * time.Second,
		OnAccepted: l.watcher.Accepted, RetryRate: 0.05}
	l.run = loadgen.Start(context.Background(), cfg, ids)
	s.t.Cleanup(l.run.Stop)
	return l
}

// account waits for the load to end and for the pipeline to drain — the
// consumer has nothing pending or unacknowledged, and two scans of the
// index agree — then checks, id by id, that every event answered 202 is
// indexed exactly once. It returns the consumer's state once drained.
func (s *stack) account(l *load, within time.Duration) (loadgen.Result, loadgen.SearchableResult, *njs.ConsumerInfo) {
	s.t.Helper()
	res, err := l.run.Wait()
	if err != nil {
		s.t.Errorf("load: %v", err)
	}
	deadline := time.Now().Add(within)
	info := s.waitConsumer(time.Until(deadline), "drained (nothing pending or unacknowledged)", func(c *njs.ConsumerInfo) bool {
		return c.NumPending == 0 && c.NumAckPending == 0
	})
	// Enrich acks a message once its documents are written, so a drained
	// consumer means nothing more will arrive; the scans must agree.
	r, err := l.watcher.Settled(context.Background(), deadline)
	if err != nil {
		s.t.Fatalf("after the drain: %v", err)
	}
	s.t.Logf("load: %d requests (%d retried), statuses %v, transport errors %d", res.Requests, res.Retries, res.Statuses, res.TransportErrs)
	s.t.Logf("accounting: %s (%d documents; %d ids indexed without a 202)", r.Accounting, r.Documents, r.Unaccepted)
	if !r.ExactlyOnce() {
		s.t.Errorf("want every accepted event indexed exactly once")
	}
	return res, r, info
}

// consumerInfo reads the state of the enrich services' durable consumer.
func (s *stack) consumerInfo() (*njs.ConsumerInfo, error) {
	return testenv.ConsumerInfo(s.natsURL, s.stream(), "enrich")
}

// waitConsumer polls the consumer until ok holds and returns that state; it
// fails the test after within.
func (s *stack) waitConsumer(within time.Duration, what string, ok func(*njs.ConsumerInfo) bool) *njs.ConsumerInfo {
	s.t.Helper()
	var last *njs.ConsumerInfo
	testenv.EventuallyState(s.t, within, "consumer "+what, func() (bool, string) {
		c, err := s.consumerInfo()
		if err != nil {
			return false, err.Error()
		}
		last = c
		return ok(c), fmt.Sprintf("pending %d, ack pending %d, delivered %d (stream seq %d)", c.NumPending, c.NumAckPending, c.Delivered.Consumer, c.Delivered.Stream)
	})
	return last
}

func (s *stack) stream() string { return s.common()["EVENTS_STREAM"] }

// startNATS runs a nats-server process of the test's own, with JetStream
// storing in dir, on addr (host:port).
func startNATS(t *testing.T, dir, addr string) *procs.NATSServer {
	t.Helper()
	bin, err := procs.NATSServerBin("../..")
	if err != nil {
		t.Fatal(err)
	}
	s, err := procs.StartNATS(context.Background(), testenv.Starter(t), procs.NATSConfig{Bin: bin, Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
