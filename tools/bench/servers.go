package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/servers"
)

// readyWithin bounds a service's start.
const readyWithin = 30 * time.Second

// service is a started service and the base URL of its HTTP face.
type service struct {
	*procs.Proc
	URL       string
	DebugAddr string // its pprof listener, when the run keeps CPU profiles
}

// freshBroker stops the current broker, if any, throws its store away and
// starts an empty one: right after a maximum round the stream holds
// gigabytes the broker is still writing and expiring, which would be
// measured instead of the load.
func (r *runner) freshBroker(ctx context.Context) error {
	if r.broker != nil {
		if err := r.broker.Stop(); err != nil {
			return fmt.Errorf("fresh broker: %w", err)
		}
		r.broker = nil
	}
	if err := os.RemoveAll(r.brokerDir); err != nil {
		return fmt.Errorf("fresh broker: %w", err)
	}
	syscall.Sync() // what the old store left in the page cache is written before the next measurement

	var prof string // the broker's pprof listener, when the run keeps CPU profiles
	if r.cfg.CostProfile {
		var err error
		if prof, err = procs.FreeAddr(); err != nil {
			return fmt.Errorf("fresh broker: %w", err)
		}
	}
	b, err := procs.StartNATS(ctx, r.group.Start, procs.NATSConfig{Bin: r.natsBin, Dir: r.brokerDir, SyncInterval: r.cfg.NATSSync,
		ProfAddr: prof, LogPath: filepath.Join(r.out, "nats.log")})
	if err != nil {
		return fmt.Errorf("fresh broker: %w", err)
	}
	r.broker = b
	if r.summary.Machine.NATS == "" {
		var varz struct {
			Version string `json:"version"`
		}
		if err := r.getJSON(ctx, b.MonitorURL+"/varz", &varz); err != nil {
			return fmt.Errorf("nats-server version: %w", err)
		}
		r.summary.Machine.NATS = varz.Version
	}
	return nil
}

// start runs one of the built binaries on free ports with env on top of
// LOG_LEVEL=warn, logging into the results folder, and waits until url
// (relative to the HTTP face) is ready.
func (r *runner) start(ctx context.Context, bin, logName, httpVar, path string, ready procs.Readiness, env map[string]string) (*service, error) {
	addr, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	e := map[string]string{"LOG_LEVEL": "warn", httpVar: addr}
	maps.Copy(e, env)
	p, err := r.group.Start(procs.Spec{Name: logName, Path: r.bins[bin], Env: e, LogPath: filepath.Join(r.out, logName+".log")})
	if err != nil {
		return nil, err
	}
	s := &service{Proc: p, URL: "http://" + addr}
	if err := p.WaitHTTP(ctx, s.URL+path, readyWithin, ready); err != nil {
		return nil, err
	}
	return s, nil
}

// startIngest runs ingest on the current broker, publishing to stream.
func (r *runner) startIngest(ctx context.Context, logName, stream string, extra map[string]string) (*service, error) {
	return r.startIngestBin(ctx, "ingest", logName, stream, extra)
}

// startIngestBin is startIngest with one of the built ingest binaries (this
// checkout's or the baseline's).
func (r *runner) startIngestBin(ctx context.Context, bin, logName, stream string, extra map[string]string) (*service, error) {
	grpc, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := map[string]string{"NATS_URL": r.broker.URL, "INGEST_GRPC_ADDR": grpc, "INGEST_WRITE_KEYS": writeKey + ":bench",
		"EVENTS_STREAM": stream, "EVENTS_SUBJECT_PREFIX": subject(stream)}
	maps.Copy(env, extra)
	return r.start(ctx, bin, logName, "INGEST_HTTP_ADDR", "/readyz", procs.OK, env)
}

// startNaive runs the naive front door on the current broker. It has no
// health endpoint: any answer means it listens.
func (r *runner) startNaive(ctx context.Context) (*service, error) {
	return r.start(ctx, "naive-ingest", "naive", "NAIVE_HTTP_ADDR", "/", procs.Answering, map[string]string{"NATS_URL": r.broker.URL})
}

// startEnrich runs enrich from stream into the indices of prefix.
func (r *runner) startEnrich(ctx context.Context, logName, stream, prefix string) (*service, error) {
	return r.startEnrichBin(ctx, "enrich", logName, stream, prefix, nil)
}

// startEnrichBin is startEnrich with one of the built enrich binaries.
func (r *runner) startEnrichBin(ctx context.Context, bin, logName, stream, prefix string, extra map[string]string) (*service, error) {
	env := map[string]string{"NATS_URL": r.broker.URL, "OPENSEARCH_URL": r.openSearch.URL, "EVENTS_STREAM": stream,
		"EVENTS_SUBJECT_PREFIX": subject(stream), "EVENTS_INDEX_PREFIX": prefix, "ENRICH_RETENTION": "0"}
	maps.Copy(env, r.cfg.EnrichSettings)
	maps.Copy(env, extra)
	return r.start(ctx, bin, logName, "ENRICH_HTTP_ADDR", "/readyz", procs.OK, env)
}

// startQuery runs the query service over the indices of prefix.
func (r *runner) startQuery(ctx context.Context, prefix string) (*service, error) {
	grpc, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := map[string]string{"OPENSEARCH_URL": r.openSearch.URL, "EVENTS_INDEX_PREFIX": prefix, "QUERY_TOKENS": readToken + ":*",
		"QUERY_PAGE_TOKEN_KEY": pageTokenKey, "QUERY_GRPC_ADDR": grpc}
	debug, err := r.debugEnv()
	if err != nil {
		return nil, err
	}
	maps.Copy(env, debug)
	s, err := r.start(ctx, "query", "query", "QUERY_HTTP_ADDR", "/readyz", procs.OK, env)
	if err != nil {
		return nil, err
	}
	s.DebugAddr = debug["DEBUG_ADDR"]
	return s, nil
}

// subject is the subject prefix of a bench stream: BENCH_E2E → bench.e2e.
func subject(stream string) string { return strings.ToLower(strings.ReplaceAll(stream, "_", ".")) }

// stop stops services, the last first.
func stop(services ...*service) error {
	for i := len(services) - 1; i >= 0; i-- {
		if services[i] == nil {
			continue
		}
		if err := services[i].Stop(); err != nil {
			return err
		}
	}
	return nil
}

// startOpenSearch starts the bench's own OpenSearch node, once a run: found
// or fetched as the development servers' (tools/servers), run as its
// unprivileged user when the bench runs as root, on a free port, with a data
// directory of its own: one that outlives the run when the query part runs
// (its data set is built once), else one of this run's, removed at its end.
func (r *runner) startOpenSearch(ctx context.Context) error {
	if r.openSearch != nil {
		return nil
	}
	r.logf("starting an OpenSearch node of the bench's own")
	cfg, err := servers.Load(os.LookupEnv, r.root)
	if err != nil {
		return fmt.Errorf("find OpenSearch: %w", err)
	}
	d, err := servers.InstallOpenSearch(ctx, cfg, servers.NewLog(r.progress))
	if err != nil {
		return fmt.Errorf("find OpenSearch: %w", err)
	}
	// Only the query part reuses what an earlier run left (its data set);
	// without it the node gets folders of this run's own, removed at its
	// end, so that another run's node on the same machine is no obstacle.
	data, logs := filepath.Join(d.Base, "data-bench"), filepath.Join(d.Base, "logs-bench")
	if !slices.Contains(r.parts, "query") {
		suffix := fmt.Sprintf("-run-%d", os.Getpid())
		data, logs = data+suffix, logs+suffix
		r.scratch = append(r.scratch, data, logs)
	}
	s, err := procs.StartOpenSearch(ctx, r.group.Start, procs.OpenSearchConfig{
		Home: d.Home, JavaHome: d.JavaHome, User: d.User,
		DataDir: data, LogsDir: logs,
		Heap: r.cfg.OpenSearchHeap, LogPath: filepath.Join(r.out, "opensearch.log"),
	})
	if err != nil {
		return err
	}
	r.openSearch = s
	if r.osc, err = opensearchx.NewClient(opensearchx.Options{URL: s.URL, Transport: http.DefaultTransport}); err != nil {
		return err
	}
	var root struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if err := r.osJSON(ctx, http.MethodGet, "/", &root); err != nil {
		return fmt.Errorf("OpenSearch version: %w", err)
	}
	r.summary.Machine.OpenSearch = root.Version.Number
	return nil
}

// getJSON GETs url (a service's or the broker's monitoring endpoint) and
// decodes a 200 answer into v.
func (r *runner) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	res, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.200s", url, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
