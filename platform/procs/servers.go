package procs

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Starter starts a process: Group.Start, or a test's own that stops it
// when the test ends.
type Starter func(Spec) (*Proc, error)

// PinnedNATSServer is where scripts/tools.sh installs the pinned
// nats-server for the workspace at root.
func PinnedNATSServer(root string) string {
	return filepath.Join(root, ".cache", "bin", "nats-server")
}

// NATSServerBin is the nats-server binary: $NATS_SERVER_BIN, or the one
// scripts/tools.sh installs under root/.cache/bin.
func NATSServerBin(root string) (string, error) {
	if b := os.Getenv("NATS_SERVER_BIN"); b != "" {
		return b, nil
	}
	b, err := filepath.Abs(PinnedNATSServer(root))
	if err != nil {
		return "", fmt.Errorf("nats-server binary: %w", err)
	}
	if _, err := os.Stat(b); err != nil {
		return "", fmt.Errorf("no nats-server binary at %s (run scripts/tools.sh nats, or set NATS_SERVER_BIN)", b)
	}
	return b, nil
}

// NATSConfig is a nats-server with JetStream of a test's, a benchmark's or
// the development servers' own.
type NATSConfig struct {
	Bin  string // the nats-server binary (NATSServerBin)
	Dir  string // its config and JetStream store go here
	Addr string // host:port for clients; empty: a free loopback port
	// MonitorPort is the port of its monitoring endpoint (on Addr's host);
	// 0: a free one.
	MonitorPort int
	StoreDir    string // JetStream's store; empty: Dir/js
	// SyncInterval is JetStream's sync_interval ("always" fsyncs every
	// write); empty: the server's default.
	SyncInterval string
	// ProfAddr, when set, is the host:port of the server's pprof listener
	// (prof_port: the server listens on that port of Addr's host).
	ProfAddr string
	LogPath  string
	Ready    time.Duration // how long it may take to be ready; 0: 20 s
	// Cluster, if set, makes the server a node of a JetStream cluster
	// (StartNATSCluster).
	Cluster *NATSClusterNode
}

// NATSClusterNode is what a nats-server needs to join a cluster: its name,
// the cluster's, its route listener and the routes of every node.
type NATSClusterNode struct {
	ServerName string
	Name       string   // the cluster's name
	Listen     string   // host:port of its route listener
	Routes     []string // host:port of every node's route listener, its own included
}

// conf is the node's part of a nats-server config.
func (n *NATSClusterNode) conf() string {
	routes := make([]string, len(n.Routes))
	for i, r := range n.Routes {
		routes[i] = strconv.Quote("nats-route://" + r)
	}
	return fmt.Sprintf("server_name: %s\ncluster { name: %s, listen: %s, routes: [%s] }\n",
		strconv.Quote(n.ServerName), strconv.Quote(n.Name), strconv.Quote(n.Listen), strings.Join(routes, ", "))
}

// NATSServer is a running nats-server.
type NATSServer struct {
	*Proc
	URL        string // nats://host:port
	MonitorURL string // http://host:port of its monitoring endpoint
	StoreDir   string // JetStream's store
	ProfAddr   string // host:port of its pprof listener; empty: none
}

// StartNATS writes a config into cfg.Dir, starts nats-server with it and
// waits until JetStream answers healthy. One message may carry 8 MiB, as
// ingest's largest batch needs.
func StartNATS(ctx context.Context, start Starter, cfg NATSConfig) (*NATSServer, error) {
	if cfg.Addr == "" {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		cfg.Addr = a
	}
	host, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	monPort := cfg.MonitorPort
	if monPort == 0 {
		mon, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		if _, monPort, err = splitAddr(mon); err != nil {
			return nil, err
		}
	}
	store := cfg.StoreDir
	if store == "" {
		store = filepath.Join(cfg.Dir, "js")
	}
	js := "store_dir: " + strconv.Quote(store)
	if cfg.SyncInterval != "" {
		js += ", sync_interval: " + cfg.SyncInterval
	}
	conf := filepath.Join(cfg.Dir, "nats.conf")
	body := fmt.Sprintf("host: %s\nport: %d\nhttp_port: %d\nmax_payload: 8MB\njetstream { %s }\n", host, port, monPort, js)
	if cfg.ProfAddr != "" {
		_, profPort, err := splitAddr(cfg.ProfAddr)
		if err != nil {
			return nil, fmt.Errorf("nats-server pprof address: %w", err)
		}
		body += fmt.Sprintf("prof_port: %d\n", profPort)
	}
	if cfg.Cluster != nil {
		body += cfg.Cluster.conf()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("nats-server dir: %w", err)
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, fmt.Errorf("nats-server config: %w", err)
	}
	p, err := start(Spec{Name: "nats-server", Path: cfg.Bin, Args: []string{"-c", conf}, LogPath: cfg.LogPath})
	if err != nil {
		return nil, err
	}
	s := &NATSServer{Proc: p, URL: "nats://" + cfg.Addr, MonitorURL: "http://" + net.JoinHostPort(host, strconv.Itoa(monPort)), StoreDir: store, ProfAddr: cfg.ProfAddr}
	if err := p.WaitHTTP(ctx, s.MonitorURL+"/healthz?js-enabled-only=true", orDefault(cfg.Ready, 20*time.Second), OK); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenSearchConfig is a single-node OpenSearch of a benchmark's or the
// development servers' own.
type OpenSearchConfig struct {
	Home     string // the unpacked distribution
	JavaHome string
	User     string // run as this user (OpenSearch refuses root); empty: as the caller
	DataDir  string // kept between runs, so a data set built once is reused
	LogsDir  string
	Heap     string // e.g. 1g
	Addr     string // host:port of its HTTP API; empty: a free loopback port
	LogPath  string
	Ready    time.Duration // how long it may take to be healthy; 0: 3 minutes
	// Cluster, if set, makes the node one of a cluster
	// (StartOpenSearchCluster) instead of a single-node cluster.
	Cluster *OpenSearchClusterNode
}

// OpenSearchClusterNode is what an OpenSearch node needs to join a cluster.
type OpenSearchClusterNode struct {
	Name          string   // the cluster's name
	NodeName      string   // this node's
	TransportAddr string   // host:port of its transport
	SeedHosts     []string // every node's transport address
	Managers      []string // the names of the nodes that elect the first cluster manager
	// ConfDir is the node's own config folder, a copy of the
	// distribution's whose JVM options write the GC log, heap dumps and
	// crash files under WorkDir: the start script runs the JVM in the
	// distribution's folder, so nodes sharing one would share those files.
	ConfDir string
	WorkDir string
}

// OpenSearchServer is a running OpenSearch node.
type OpenSearchServer struct {
	*Proc
	URL string
}

// StartOpenSearch starts the node with its transport on a free port and
// waits until the cluster is at least yellow.
func StartOpenSearch(ctx context.Context, start Starter, cfg OpenSearchConfig) (*OpenSearchServer, error) {
	if cfg.Addr == "" {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		cfg.Addr = a
	}
	_, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.DataDir, cfg.LogsDir} {
		if err := userDir(d, cfg.User); err != nil {
			return nil, err
		}
	}
	args := []string{
		"-E", "http.host=127.0.0.1", "-E", "http.port=" + strconv.Itoa(port),
		"-E", "path.data=" + cfg.DataDir, "-E", "path.logs=" + cfg.LogsDir,
		"-E", "cluster.routing.allocation.disk.threshold_enabled=false", "-E", "action.auto_create_index=true",
	}
	env := map[string]string{"OPENSEARCH_JAVA_HOME": cfg.JavaHome, "OPENSEARCH_JAVA_OPTS": "-Xms" + cfg.Heap + " -Xmx" + cfg.Heap}
	name := "opensearch"
	if n := cfg.Cluster; n != nil {
		tport, err := Port(n.TransportAddr)
		if err != nil {
			return nil, fmt.Errorf("opensearch node %s: transport: %w", n.NodeName, err)
		}
		if err := nodeConfDir(cfg.Home, n.ConfDir, n.WorkDir, cfg.User); err != nil {
			return nil, err
		}
		name = n.NodeName
		env["OPENSEARCH_PATH_CONF"] = n.ConfDir
		args = append(args, "-E", "cluster.name="+n.Name, "-E", "node.name="+n.NodeName,
			"-E", "network.host=127.0.0.1", "-E", "transport.port="+strconv.Itoa(tport),
			"-E", "discovery.seed_hosts="+strings.Join(n.SeedHosts, ","),
			"-E", "cluster.initial_cluster_manager_nodes="+strings.Join(n.Managers, ","))
	} else {
		args = append(args, "-E", "discovery.type=single-node", "-E", "transport.port=0")
	}
	p, err := start(Spec{Name: name, Path: filepath.Join(cfg.Home, "bin", "opensearch"), Dir: cfg.Home, User: cfg.User,
		LogPath: cfg.LogPath, Args: args, Env: env})
	if err != nil {
		return nil, err
	}
	s := &OpenSearchServer{Proc: p, URL: "http://" + cfg.Addr}
	if cfg.Cluster != nil { // ready once the cluster forms: StartOpenSearchCluster waits
		return s, nil
	}
	if err := p.WaitHTTP(ctx, s.URL+"/_cluster/health?wait_for_status=yellow&timeout=1s", orDefault(cfg.Ready, 3*time.Minute), OK); err != nil {
		return nil, err
	}
	return s, nil
}

func splitAddr(addr string) (string, int, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := Port(addr)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// userDir creates dir if needed and, if user is set, gives it to user.
func userDir(dir, user string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("opensearch dir: %w", err)
	}
	if user == "" {
		return nil
	}
	cred, err := Credential(user)
	if err != nil {
		return err
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("opensearch dir: %w", err)
	}
	return nil
}
