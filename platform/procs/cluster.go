package procs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NATSClusterConfig is a JetStream cluster of nats-server processes on one
// host (the cluster mode of `make run-cluster`, the cluster tests and the
// scaling benchmark).
type NATSClusterConfig struct {
	Bin   string // the nats-server binary (NATSServerBin)
	Dir   string // node n keeps its config and store in Dir/<n>
	Name  string // the cluster's name; empty: "telemetry"
	Host  string // empty: 127.0.0.1
	Nodes int    // 0: 3
	// Node i's client, route and monitoring ports are ClientPort+i,
	// RoutePort+i and MonitorPort+i; 0: free ports.
	ClientPort, RoutePort, MonitorPort int
	SyncInterval                       string // JetStream's sync_interval; empty: the server's default
	LogDir                             string // node n logs to LogDir/<n>.log; empty: Dir/<n>/nats.log
}

// NATSCluster is a running JetStream cluster.
type NATSCluster struct {
	Nodes []*NATSServer // in the order of Names
	Names []string      // server names: nats-0, nats-1, ...
}

// URLs is the comma-separated list of the nodes' client URLs (NATS_URL).
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// Node returns the node named name, or nil.
func (c *NATSCluster) Node(name string) *NATSServer {
	for i, n := range c.Names {
		if n == name {
			return c.Nodes[i]
		}
	}
	return nil
}

// StartNATSCluster starts cfg.Nodes nats-servers routed to each other and
// waits until the JetStream meta group has a leader and every node is
// healthy.
func StartNATSCluster(ctx context.Context, start Starter, cfg NATSClusterConfig) (*NATSCluster, error) {
	nodes := cmp.Or(cfg.Nodes, 3)
	host := cmp.Or(cfg.Host, "127.0.0.1")
	name := cmp.Or(cfg.Name, "telemetry")
	client, err := ports(host, cfg.ClientPort, nodes)
	if err != nil {
		return nil, err
	}
	routes, err := ports(host, cfg.RoutePort, nodes)
	if err != nil {
		return nil, err
	}
	monitors, err := ports(host, cfg.MonitorPort, nodes)
	if err != nil {
		return nil, err
	}
	c := &NATSCluster{}
	for i := range nodes {
		node := "nats-" + strconv.Itoa(i)
		mon, _ := Port(monitors[i])
		dir := filepath.Join(cfg.Dir, node)
		logPath := filepath.Join(dir, "nats.log")
		if cfg.LogDir != "" {
			logPath = filepath.Join(cfg.LogDir, node+".log")
		}
		s, err := StartNATS(ctx, start, NATSConfig{Bin: cfg.Bin, Dir: dir, Addr: client[i], MonitorPort: mon,
			SyncInterval: cfg.SyncInterval, LogPath: logPath,
			Cluster: &NATSClusterNode{ServerName: node, Name: name, Listen: routes[i], Routes: routes}})
		if err != nil {
			return nil, err
		}
		c.Nodes, c.Names = append(c.Nodes, s), append(c.Names, node)
	}
	if err := c.WaitHealthy(ctx, time.Minute); err != nil {
		return nil, err
	}
	return c, nil
}

// WaitHealthy waits until every node answers /healthz (JetStream current:
// the meta group and every stream and consumer caught up) and they agree
// on a meta leader.
func (c *NATSCluster) WaitHealthy(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, n := range c.Nodes {
		if err := n.WaitHTTP(ctx, n.MonitorURL+"/healthz", within, OK); err != nil {
			return err
		}
	}
	last := ""
	for {
		leader, err := c.MetaLeader(ctx)
		if err == nil && leader != "" {
			return nil
		}
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats cluster: no meta leader within %s (%s)", within, last)
		case <-time.After(probeInterval):
		}
	}
}

// MetaLeader is the JetStream meta leader every running node names; an
// error if they disagree or one does not answer.
func (c *NATSCluster) MetaLeader(ctx context.Context) (string, error) {
	leader := ""
	for i, n := range c.Nodes {
		if gone, _ := n.Exited(); gone {
			continue
		}
		var jsz struct {
			Meta struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		if err := getJSON(ctx, n.MonitorURL+"/jsz", &jsz); err != nil {
			return "", fmt.Errorf("%s: %w", c.Names[i], err)
		}
		if jsz.Meta.Leader == "" || (leader != "" && jsz.Meta.Leader != leader) {
			return "", fmt.Errorf("%s: meta leader %q, others %q", c.Names[i], jsz.Meta.Leader, leader)
		}
		leader = jsz.Meta.Leader
	}
	return leader, nil
}

// OpenSearchClusterConfig is a cluster of OpenSearch nodes on one host, all
// of one unpacked distribution, each with its own config, data and logs.
type OpenSearchClusterConfig struct {
	Home     string // the unpacked distribution
	JavaHome string
	User     string // run as this user (OpenSearch refuses root); empty: as the caller
	Heap     string // per node, e.g. 512m
	Dir      string // node n keeps its config, data and logs in Dir/<n> (reachable by User)
	Name     string // the cluster's name; empty: "telemetry"
	Nodes    int    // 0: 3
	// Node i's HTTP and transport ports are HTTPPort+i and TransportPort+i;
	// 0: free ports.
	HTTPPort, TransportPort int
	LogDir                  string        // node n's output goes to LogDir/<n>.log; empty: Dir/<n>/out.log
	Ready                   time.Duration // how long the cluster may take to be green; 0: 3 minutes
}

// OpenSearchCluster is a running OpenSearch cluster.
type OpenSearchCluster struct {
	Nodes []*OpenSearchServer // in the order of Names
	Names []string            // node names: os-0, os-1, ...
}

// URLs is the comma-separated list of the nodes' HTTP URLs (OPENSEARCH_URL).
func (c *OpenSearchCluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// Node returns the node named name, or nil.
func (c *OpenSearchCluster) Node(name string) *OpenSearchServer {
	for i, n := range c.Names {
		if n == name {
			return c.Nodes[i]
		}
	}
	return nil
}

// StartOpenSearchCluster starts cfg.Nodes nodes that discover each other
// and waits until the cluster has them all and is green.
func StartOpenSearchCluster(ctx context.Context, start Starter, cfg OpenSearchClusterConfig) (*OpenSearchCluster, error) {
	nodes := cmp.Or(cfg.Nodes, 3)
	name := cmp.Or(cfg.Name, "telemetry")
	httpAddrs, err := ports("127.0.0.1", cfg.HTTPPort, nodes)
	if err != nil {
		return nil, err
	}
	transport, err := ports("127.0.0.1", cfg.TransportPort, nodes)
	if err != nil {
		return nil, err
	}
	c := &OpenSearchCluster{}
	for i := range nodes {
		c.Names = append(c.Names, "os-"+strconv.Itoa(i))
	}
	if err := userDir(cfg.Dir, cfg.User); err != nil {
		return nil, err
	}
	for i, node := range c.Names {
		dir := filepath.Join(cfg.Dir, node)
		if err := userDir(dir, cfg.User); err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, "out.log")
		if cfg.LogDir != "" {
			logPath = filepath.Join(cfg.LogDir, node+".log")
		}
		s, err := StartOpenSearch(ctx, start, OpenSearchConfig{Home: cfg.Home, JavaHome: cfg.JavaHome, User: cfg.User, Heap: cfg.Heap,
			DataDir: filepath.Join(dir, "data"), LogsDir: filepath.Join(dir, "logs"), Addr: httpAddrs[i], LogPath: logPath,
			Cluster: &OpenSearchClusterNode{Name: name, NodeName: node, TransportAddr: transport[i], SeedHosts: transport,
				Managers: c.Names, ConfDir: filepath.Join(dir, "config"), WorkDir: dir}})
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	within := orDefault(cfg.Ready, 3*time.Minute)
	for _, n := range c.Nodes {
		if err := n.WaitHTTP(ctx, n.URL+"/_cluster/health?wait_for_nodes="+strconv.Itoa(nodes)+"&wait_for_status=green&timeout=1s", within, OK); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Health is the cluster's health as a running node sees it.
type Health struct {
	Status          string `json:"status"` // green, yellow or red
	Nodes           int    `json:"number_of_nodes"`
	UnassignedShard int    `json:"unassigned_shards"`
}

// Health asks the first running node for the cluster's health.
func (c *OpenSearchCluster) Health(ctx context.Context) (Health, error) {
	var h Health
	var errs []error
	for i, n := range c.Nodes {
		if gone, _ := n.Exited(); gone {
			continue
		}
		err := getJSON(ctx, n.URL+"/_cluster/health", &h)
		if err == nil {
			return h, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.Names[i], err))
	}
	return h, fmt.Errorf("cluster health: %w", errors.Join(errs...))
}

// nodeConfDir makes dir a copy of the distribution's config folder whose
// JVM options put the GC log, heap dumps and crash files under work, for
// user. An existing dir is kept.
func nodeConfDir(home, dir, work, user string) error {
	if _, err := os.Stat(filepath.Join(dir, "jvm.options")); err == nil {
		return nil
	}
	for _, d := range []string{work, filepath.Join(work, "logs")} {
		if err := userDir(d, user); err != nil {
			return err
		}
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("opensearch config: %w", err)
	}
	src := filepath.Join(home, "config")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(tmp, rel)
		if d.IsDir() {
			return userDir(to, user)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "jvm.options" {
			b = []byte(strings.NewReplacer(
				"file=logs/gc.log", "file="+filepath.Join(work, "logs", "gc.log"),
				"-Xloggc:logs/gc.log", "-Xloggc:"+filepath.Join(work, "logs", "gc.log"),
				"-XX:HeapDumpPath=data", "-XX:HeapDumpPath="+work,
				"-XX:ErrorFile=logs/", "-XX:ErrorFile="+filepath.Join(work, "logs")+"/",
			).Replace(string(b)))
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			return err
		}
		if user == "" {
			return nil
		}
		cred, err := Credential(user)
		if err != nil {
			return err
		}
		return os.Chown(to, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		return fmt.Errorf("opensearch config for %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("opensearch config: %w", err)
	}
	return nil
}

// ports returns n host:port addresses: base+i, or free ports when base is 0.
func ports(host string, base, n int) ([]string, error) {
	out := make([]string, n)
	for i := range n {
		if base != 0 {
			out[i] = net.JoinHostPort(host, strconv.Itoa(base+i))
			continue
		}
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		_, p, err := splitAddr(a)
		if err != nil {
			return nil, err
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

func getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(out)
}
