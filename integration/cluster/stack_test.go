package cluster

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/tools/loadgen"
	"github.com/evtrack/telemetry/tools/servers"
)

const (
	writeKey     = "cluster-write-key-0123456789"
	deleteToken  = "cluster-delete-token-0123456789"
	pageTokenKey = "636c757374657220706167652d746f6b656e2d6b65792d30313233343536373839"
)

// clusters are the two clusters every scenario of a test shares.
type clusters struct {
	nats *procs.NATSCluster
	os   *procs.OpenSearchCluster
}

// startClusters starts a 3-node JetStream cluster and a 3-node OpenSearch
// cluster (heaps of 512 MiB) for the rest of t, the two at once.
func startClusters(t *testing.T) *clusters {
	t.Helper()
	root := testenv.Root(t) // absolute: the nodes run in folders of their own
	cfg, err := servers.Load(os.LookupEnv, root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dist, err := servers.InstallOpenSearch(ctx, cfg, servers.NewLog(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := procs.NATSServerBin(root)
	if err != nil {
		t.Fatal(err)
	}
	// The pinned version: with v2.12.1 a node restarted after a SIGKILL
	// did not catch up (scripts/versions.env).
	out, err := exec.Command(bin, "--version").Output()
	if want := cfg.Versions["NATS_SERVER_VERSION"]; err != nil || strings.TrimSpace(string(out)) != "nats-server: "+want {
		t.Fatalf("%s is %q (%v), not the pinned %s: run scripts/tools.sh nats", bin, strings.TrimSpace(string(out)), err, want)
	}
	// The nodes' folders must be reachable by the user OpenSearch runs as:
	// under the distribution's parent, not the test's private temp folder.
	dir, err := os.MkdirTemp(dist.Base, "cluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the nodes are killed (cleanups run last first)
	c := &clusters{}
	osDone := make(chan error, 1)
	go func() {
		var err error
		c.os, err = procs.StartOpenSearchCluster(ctx, testenv.Starter(t), procs.OpenSearchClusterConfig{Home: dist.Home, JavaHome: dist.JavaHome,
			User: dist.User, Heap: "512m", Dir: filepath.Join(dir, "opensearch"), Name: "cluster-test"})
		osDone <- err
	}()
	c.nats, err = procs.StartNATSCluster(ctx, testenv.Starter(t), procs.NATSClusterConfig{Bin: bin, Dir: filepath.Join(dir, "nats"), Name: "cluster-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-osDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("clusters up: NATS_URL=%s OPENSEARCH_URL=%s", c.nats.URLs(), c.os.URLs())
	return c
}

// stack is one scenario's stream, consumer and indices, its services (two
// ingest, two enrich) and its load.
type stack struct {
	t       *testing.T
	c       *clusters
	name    string
	ingests []*procs.Proc
	urls    []string // the ingest instances' /v1/track
}

func newStack(t *testing.T, c *clusters) *stack {
	t.Helper()
	s := &stack{t: t, c: c, name: testenv.Name(t, "cluster")}
	// Run after the scenario's processes are stopped.
	testenv.DeleteIndexData(t, c.os.Nodes[0].URL, s.name)
	testenv.DeleteStream(t, c.nats.URLs(), s.stream())
	testenv.DeleteKeyValue(t, c.nats.URLs(), s.bucket(), s.bucket()+suppression.StatusSuffix)
	return s
}

func (s *stack) stream() string { return strings.ToUpper(strings.ReplaceAll(s.name, "-", "_")) }

// bucket is the scenario's suppression bucket (and, with
// suppression.StatusSuffix, its status bucket).
func (s *stack) bucket() string { return s.stream() + "_SUPPRESSIONS" }

func (s *stack) common() map[string]string {
	return map[string]string{
		"NATS_URL": s.c.nats.URLs(), "OPENSEARCH_URL": s.c.os.URLs(), "LOG_LEVEL": "warn",
		"EVENTS_STREAM": s.stream(), "EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(s.name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX": s.name, "EVENTS_STREAM_REPLICAS": "3", "OPENSEARCH_INDEX_REPLICAS": "1", "SUPPRESSION_REPLICAS": "3",
		"SUPPRESSION_BUCKET": s.bucket(),
	}
}

// start runs two ingest and two enrich instances, the ingests first (they
// create the stream).
func (s *stack) start() {
	s.t.Helper()
	for i := range 2 {
		s.ingest("ingest-"+strconv.Itoa(i), map[string]string{"INGEST_PUBLISH_TIMEOUT": "2s", "INGEST_RETRY_AFTER": "1s"})
	}
	for i := range 2 {
		s.enrich("enrich-"+strconv.Itoa(i), map[string]string{"ENRICH_ACK_WAIT": "15s", "ENRICH_BULK_TIMEOUT": "10s",
			"ENRICH_RETRY_DELAY": "1s", "ENRICH_MAX_BACKOFF": "2s"})
	}
}

// ingest starts one more ingest instance with the scenario's settings and
// extra.
func (s *stack) ingest(name string, extra map[string]string) *procs.Proc {
	s.t.Helper()
	env := s.common()
	addr := testenv.FreeAddr(s.t)
	env["INGEST_HTTP_ADDR"], env["INGEST_GRPC_ADDR"], env["INGEST_WRITE_KEYS"] = addr, testenv.FreeAddr(s.t), writeKey+":app-cluster"
	maps.Copy(env, extra)
	p := s.proc(procs.Spec{Name: name, Path: bins["ingest"], Env: env}, "http://"+addr+"/readyz")
	s.ingests, s.urls = append(s.ingests, p), append(s.urls, "http://"+addr+"/v1/track")
	return p
}

// enrich starts one more enrich instance with the scenario's settings and
// extra.
func (s *stack) enrich(name string, extra map[string]string) *procs.Proc {
	s.t.Helper()
	env := s.common()
	addr := testenv.FreeAddr(s.t)
	env["ENRICH_HTTP_ADDR"], env["ENRICH_RETENTION"] = addr, "0"
	maps.Copy(env, extra)
	return s.proc(procs.Spec{Name: name, Path: bins["enrich"], Env: env}, "http://"+addr+"/healthz")
}

// queryProc is a running query instance and its HTTP face.
type queryProc struct {
	*procs.Proc
	url string // http://host:port
}

// query starts a query instance with the scenario's settings (deletions in
// small paced pages, a lease of 5 s) and extra.
func (s *stack) query(name string, extra map[string]string) *queryProc {
	s.t.Helper()
	env := s.common()
	addr := testenv.FreeAddr(s.t)
	env["QUERY_HTTP_ADDR"], env["QUERY_GRPC_ADDR"] = addr, testenv.FreeAddr(s.t)
	env["QUERY_TOKENS"], env["QUERY_PAGE_TOKEN_KEY"] = deleteToken+":app-cluster:delete", pageTokenKey
	env["QUERY_DELETE_PAGE_SIZE"], env["QUERY_DELETE_PAGE_INTERVAL"] = "10", "100ms"
	env["QUERY_DELETE_LEASE"], env["QUERY_DELETE_POLL"] = "5s", "200ms"
	maps.Copy(env, extra)
	p := s.proc(procs.Spec{Name: name, Path: bins["query"], Env: env}, "http://"+addr+"/readyz")
	return &queryProc{Proc: p, url: "http://" + addr}
}

func (s *stack) proc(spec procs.Spec, ready string) *procs.Proc {
	s.t.Helper()
	p := testenv.StartProc(s.t, spec)
	if err := p.WaitHTTP(context.Background(), ready, time.Minute, procs.OK); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// load is one load-generator run with end-to-end accounting.
type load struct {
	watcher *loadgen.Searchable
	run     *loadgen.Background
}

// startLoad sends rate requests/s of 100 events for d, spread over the
// ingest instances, as an SDK would: a request answered 503 or not
// answered is sent again with the same event ids, after its Retry-After,
// for up to 30 s; 5% of accepted requests are sent twice (a lost response).
func (s *stack) startLoad(rate float64, d time.Duration) *load {
	s.t.Helper()
	ids := loadgen.NewIDs("c" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
	l := &load{watcher: loadgen.NewSearchable(s.c.os.URLs(), s.name+"-*", ids)}
	cfg := loadgen.Config{URLs: s.urls, WriteKey: writeKey, Concurrency: 8, Rate: rate, Duration: d,
		Templates: 8, Traffic: loadgen.Traffic{BatchSize: 100, Users: 1000}, Timeout: 5 * time.Second,
		OnAccepted: l.watcher.Accepted, RetryRate: 0.05, RetryFor: 30 * time.Second}
	l.run = loadgen.Start(context.Background(), cfg, ids)
	s.t.Cleanup(l.run.Stop)
	return l
}

// account waits for the load to end and the pipeline to drain (the
// consumer has nothing pending or unacknowledged, and two scans of the
// indices agree), prints what the client saw and the accounting line, and
// fails unless every event answered 202 is indexed exactly once.
func (s *stack) account(l *load, within time.Duration) (loadgen.Result, loadgen.SearchableResult) {
	s.t.Helper()
	res, err := l.run.Wait()
	if err != nil {
		s.t.Errorf("load: %v", err)
	}
	deadline := time.Now().Add(within)
	testenv.EventuallyState(s.t, within, "consumer drained", func() (bool, string) {
		c, err := s.consumerInfo()
		if err != nil {
			return false, err.Error()
		}
		return c.NumPending == 0 && c.NumAckPending == 0, fmt.Sprintf("pending %d, ack pending %d", c.NumPending, c.NumAckPending)
	})
	r, err := l.watcher.Settled(context.Background(), deadline)
	if err != nil {
		s.t.Fatalf("after the drain: %v", err)
	}
	s.report(fmt.Sprintf("client: %d requests, statuses %v, %d resent (Retry-After seconds %v), %d transport errors, %d gave up",
		res.Requests, res.Statuses, res.Resends, res.RetryAfter, res.TransportErrs, res.GaveUp))
	s.report(fmt.Sprintf("%s (%d documents; %d ids indexed without a 202)", r.Accounting, r.Documents, r.Unaccepted))
	if !r.ExactlyOnce() {
		s.t.Errorf("want every accepted event indexed exactly once")
	}
	if res.GaveUp > 0 {
		s.t.Errorf("%d requests were still refused after 30 s of retries: the cluster did not recover for them", res.GaveUp)
	}
	return res, r
}

// report prints line with the scenario's name to the test's standard
// output, shown also when the test passes under -v (make test's cluster
// step prints these lines).
func (s *stack) report(line string) {
	fmt.Printf("%s: %s\n", s.t.Name(), line)
}

// consumerInfo reads the state of the enrich instances' durable consumer.
func (s *stack) consumerInfo() (*njs.ConsumerInfo, error) {
	return testenv.ConsumerInfo(s.c.nats.URLs(), s.stream(), "enrich")
}

// streamInfo reads the stream's state, its cluster's leader and replicas
// included.
func (s *stack) streamInfo() (*njs.StreamInfo, error) {
	return testenv.StreamInfo(s.c.nats.URLs(), s.stream())
}
