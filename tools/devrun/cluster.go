package devrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/servers"
)

// DefaultClusterPortBase is where `make run-cluster` puts its ports
// (RUN_CLUSTER_PORT_BASE overrides it); Layout says which port is which.
const DefaultClusterPortBase = 14200

// Layout is the ports of cluster mode, all on 127.0.0.1, from one base.
type Layout struct {
	NATSClient, NATSRoute, NATSMonitor  int // first of 3 each
	OpenSearchHTTP, OpenSearchTransport int // first of 3 each
	IngestHTTP, IngestGRPC              int // first of 2 each
	EnrichHTTP                          int // first of 2
	QueryHTTP, QueryGRPC                int // first of 2 each
}

// ClusterLayout is the port layout from base: +0 NATS clients, +10 routes,
// +20 NATS monitoring, +30 OpenSearch HTTP, +40 its transport, +50 ingest
// HTTP, +52 ingest gRPC, +60 enrich, +70 query HTTP, +72 query gRPC.
func ClusterLayout(base int) Layout {
	return Layout{NATSClient: base, NATSRoute: base + 10, NATSMonitor: base + 20, OpenSearchHTTP: base + 30,
		OpenSearchTransport: base + 40, IngestHTTP: base + 50, IngestGRPC: base + 52, EnrichHTTP: base + 60,
		QueryHTTP: base + 70, QueryGRPC: base + 72}
}

// clusterInstances is how many instances of each service cluster mode runs.
const clusterInstances = 2

// instanceEnv is the environment of instance i of service (ingest, enrich,
// query) in cluster mode: base (the development defaults and the caller's
// environment) with the clusters' URL lists, 3 replicas of the stream and
// of the suppression buckets, 1 index replica and the instance's own ports.
func instanceEnv(base map[string]string, l Layout, service string, i int, natsURLs, osURLs string) map[string]string {
	env := maps.Clone(base)
	env["NATS_URL"], env["OPENSEARCH_URL"] = natsURLs, osURLs
	env["EVENTS_STREAM_REPLICAS"], env["OPENSEARCH_INDEX_REPLICAS"], env["SUPPRESSION_REPLICAS"] = "3", "1", "3"
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p+i) }
	switch service {
	case "ingest":
		env["INGEST_HTTP_ADDR"], env["INGEST_GRPC_ADDR"] = addr(l.IngestHTTP), addr(l.IngestGRPC)
	case "enrich":
		env["ENRICH_HTTP_ADDR"] = addr(l.EnrichHTTP)
	case "query":
		env["QUERY_HTTP_ADDR"], env["QUERY_GRPC_ADDR"] = addr(l.QueryHTTP), addr(l.QueryGRPC)
	}
	return env
}

// RunCluster is `make run-cluster`: the pipeline in cluster mode on this
// machine — a 3-node NATS JetStream cluster, a 3-node OpenSearch cluster
// (heaps of OPENSEARCH_HEAP, default 512m), two instances each of ingest,
// enrich and query — until ctx ends (nil) or a process exits (an error).
// Everything it starts it stops on the way out, the services first. The
// clusters keep their data between runs under .cache/run-cluster (NATS) and
// beside the OpenSearch distribution (OpenSearch, which must reach it).
func RunCluster(ctx context.Context, root string, dirs Dirs, environ []string, stdout, progress io.Writer) (err error) {
	env := Env(environ)
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "run-cluster: "+format+"\n", args...) }
	base := DefaultClusterPortBase
	if v := env["RUN_CLUSTER_PORT_BASE"]; v != "" {
		if base, err = strconv.Atoi(v); err != nil || base < 1024 || base > 65535-80 {
			return fmt.Errorf("RUN_CLUSTER_PORT_BASE %q: want a port from 1024 to %d", v, 65535-80)
		}
	}
	l := ClusterLayout(base)
	// The development servers' settings say where OpenSearch and nats-server
	// are installed; their single-node URLs do not apply here.
	cfg, err := servers.Load(func(k string) (string, bool) {
		if k == "NATS_URL" || k == "OPENSEARCH_URL" {
			return "", false
		}
		v, ok := env[k]
		return v, ok
	}, root)
	if err != nil {
		return err
	}
	if dirs.Run == "" {
		dirs.Run = filepath.Join(root, ".cache", "run-cluster")
	}
	if dirs.Bin == "" {
		dirs.Bin = filepath.Join(root, ".cache", "bin")
	}
	if err := os.MkdirAll(dirs.Run, 0o755); err != nil {
		return err
	}
	dist, err := servers.InstallOpenSearch(ctx, cfg, servers.NewLog(progress))
	if err != nil {
		return err
	}
	natsBin := cfg.NATSBin
	if natsBin == "" {
		if natsBin, err = procs.NATSServerBin(root); err != nil {
			return err
		}
	}
	heap := env["OPENSEARCH_HEAP"]
	if heap == "" {
		heap = "512m"
	}

	group := &procs.Group{}
	defer func() {
		logf("stopping services and clusters")
		err = errors.Join(err, group.StopAll())
	}()
	logf("starting a 3-node NATS JetStream cluster and a 3-node OpenSearch cluster (heap %s each)", heap)
	type osResult struct {
		c   *procs.OpenSearchCluster
		err error
	}
	osDone := make(chan osResult, 1)
	go func() {
		c, err := procs.StartOpenSearchCluster(ctx, group.Start, procs.OpenSearchClusterConfig{Home: dist.Home, JavaHome: dist.JavaHome,
			User: dist.User, Heap: heap, Dir: filepath.Join(dist.Base, "cluster-"+strconv.Itoa(base)), Name: "telemetry-dev",
			HTTPPort: l.OpenSearchHTTP, TransportPort: l.OpenSearchTransport, LogDir: dirs.Run})
		osDone <- osResult{c, err}
	}()
	nc, err := procs.StartNATSCluster(ctx, group.Start, procs.NATSClusterConfig{Bin: natsBin, Dir: filepath.Join(dirs.Run, "nats"),
		Name: "telemetry-dev", ClientPort: l.NATSClient, RoutePort: l.NATSRoute, MonitorPort: l.NATSMonitor, LogDir: dirs.Run})
	osr := <-osDone
	if err != nil {
		return err
	}
	if osr.err != nil {
		return osr.err
	}
	logf("clusters ready")

	bins, err := buildServices(ctx, root, dirs.Bin, env, logf)
	if err != nil {
		return err
	}
	exited := make(chan *procs.Proc, len(services)*clusterInstances+6)
	for _, n := range nc.Nodes {
		go func() { <-n.Done(); exited <- n.Proc }()
	}
	for _, n := range osr.c.Nodes {
		go func() { <-n.Done(); exited <- n.Proc }()
	}
	for _, s := range services {
		for i := range clusterInstances {
			name := s[0] + "-" + strconv.Itoa(i)
			e := instanceEnv(env, l, s[0], i, nc.URLs(), osr.c.URLs())
			log := filepath.Join(dirs.Run, name+".log")
			if err := os.Remove(log); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			p, err := group.Start(procs.Spec{Name: name, Path: bins[s[0]], Env: e, LogPath: log})
			if err != nil {
				return err
			}
			go func() { <-p.Done(); exited <- p }()
			if err := p.WaitHTTP(ctx, "http://"+e[s[1]]+"/readyz", readyWithin, procs.OK); err != nil {
				return fmt.Errorf("%w\n(log: %s)", err, log)
			}
		}
	}
	fmt.Fprint(stdout, ClusterMessage(l, nc.URLs(), osr.c.URLs()))
	// The examples: the first instance of each service.
	first := instanceEnv(env, l, "ingest", 0, nc.URLs(), osr.c.URLs())
	maps.Copy(first, instanceEnv(map[string]string{}, l, "enrich", 0, "", ""))
	maps.Copy(first, instanceEnv(map[string]string{}, l, "query", 0, "", ""))
	first["NATS_URL"], first["OPENSEARCH_URL"] = nc.URLs(), osr.c.URLs()
	fmt.Fprint(stdout, clusterExamples(first, dirs.Run, time.Now()))
	return untilStopped(ctx, exited, progress, func(string) string { return "the logs in " + dirs.Run })
}

// ClusterMessage lists what cluster mode runs, where.
func ClusterMessage(l Layout, natsURLs, osURLs string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nCluster mode: NATS JetStream x3 (stream replicas 3), OpenSearch x3 (index replicas 1), 2 x ingest, enrich, query\n\n")
	fmt.Fprintf(&b, "  NATS_URL=%s\n  OPENSEARCH_URL=%s\n", natsURLs, osURLs)
	for i := range clusterInstances {
		fmt.Fprintf(&b, "  ingest-%d  http://127.0.0.1:%d/v1/track  gRPC 127.0.0.1:%d\n", i, l.IngestHTTP+i, l.IngestGRPC+i)
	}
	for i := range clusterInstances {
		fmt.Fprintf(&b, "  enrich-%d  http://127.0.0.1:%d/metrics\n", i, l.EnrichHTTP+i)
	}
	for i := range clusterInstances {
		fmt.Fprintf(&b, "  query-%d   http://127.0.0.1:%d/v1/...  gRPC 127.0.0.1:%d\n", i, l.QueryHTTP+i, l.QueryGRPC+i)
	}
	fmt.Fprintf(&b, "  NATS monitoring http://127.0.0.1:%d/jsz (and +1, +2); OpenSearch health http://127.0.0.1:%d/_cluster/health\n",
		l.NATSMonitor, l.OpenSearchHTTP)
	fmt.Fprintf(&b, "\nThe examples below use the first instance of each; the second answers the same.\n")
	return b.String()
}

// clusterExamples is Message for cluster mode: its logs, and what Ctrl-C
// stops.
func clusterExamples(env map[string]string, logs string, now time.Time) string {
	return strings.NewReplacer(
		"{ingest,enrich,query}.log", "{ingest,enrich,query}-{0,1}.log, nats-{0,1,2}.log, os-{0,1,2}.log",
		"Ctrl-C stops the services (and the servers, if this command started them).", "Ctrl-C stops the services, then both clusters.",
	).Replace(Message(env, logs, now))
}
