package servers

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Config says where the development servers answer and how they run. Load
// reads it from the environment; every variable has a loopback default.
type Config struct {
	Root   string // the workspace root
	RunDir string // PID files, configs, logs and JetStream's store: Root/.cache/run

	NATSURL         string // NATS_URL: nats://127.0.0.1:4222
	NATSMonitorPort int    // NATS_MONITOR_PORT: 8222 (its health answers there)
	NATSBin         string // NATS_SERVER_BIN; empty: scripts/tools.sh installs it into Root/.cache/bin

	OpenSearchURL  string // OPENSEARCH_URL: http://127.0.0.1:9200
	OpenSearchHeap string // OPENSEARCH_HEAP: 1g
	// RunUser (OPENSEARCH_RUN_USER: opensearch) is the system user
	// OpenSearch runs as when this runs as root, which it refuses; created
	// if missing.
	RunUser  string
	JavaHome string // OPENSEARCH_JAVA_HOME; empty: Java 17 if installed, else the java on PATH

	Versions Versions // scripts/versions.env
}

var heapSize = regexp.MustCompile(`^[1-9][0-9]*[kKmMgG]?$`)

// Load reads the configuration from lookup (os.LookupEnv) for the workspace
// at root, and checks it.
func Load(lookup func(string) (string, bool), root string) (Config, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	c := Config{
		Root: root, RunDir: filepath.Join(root, ".cache", "run"),
		NATSURL: get("NATS_URL", "nats://127.0.0.1:4222"), NATSBin: get("NATS_SERVER_BIN", ""),
		OpenSearchURL: get("OPENSEARCH_URL", "http://127.0.0.1:9200"), OpenSearchHeap: get("OPENSEARCH_HEAP", "1g"),
		RunUser: get("OPENSEARCH_RUN_USER", "opensearch"), JavaHome: get("OPENSEARCH_JAVA_HOME", ""),
	}
	var err error
	if c.NATSMonitorPort, err = parsePort(get("NATS_MONITOR_PORT", "8222")); err != nil {
		return Config{}, fmt.Errorf("NATS_MONITOR_PORT: %w", err)
	}
	if _, err := HostPort(c.NATSURL); err != nil {
		return Config{}, fmt.Errorf("NATS_URL: %w", err)
	}
	if _, err := HostPort(c.OpenSearchURL); err != nil {
		return Config{}, fmt.Errorf("OPENSEARCH_URL: %w", err)
	}
	if !heapSize.MatchString(c.OpenSearchHeap) {
		return Config{}, fmt.Errorf("OPENSEARCH_HEAP: %q is not a JVM heap size such as 512m or 1g", c.OpenSearchHeap)
	}
	if c.Versions, err = LoadVersions(root); err != nil {
		return Config{}, err
	}
	return c, nil
}

// HostPort is the host:port of a server URL such as nats://127.0.0.1:4222
// or http://127.0.0.1:9200/: one server (no comma-separated list) with its
// port written out.
func HostPort(raw string) (string, error) {
	if strings.Contains(raw, ",") {
		return "", fmt.Errorf("%q: one URL, not a list: these are the servers of this machine", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q: want scheme://host:port", raw)
	}
	if _, err := parsePort(u.Port()); err != nil {
		return "", fmt.Errorf("%q: port: %w", raw, err)
	}
	return u.Host, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return p, nil
}

// natsAddr, natsHealth, openSearchAddr and openSearchHealth are what Load
// has checked.
func (c Config) natsAddr() string { a, _ := HostPort(c.NATSURL); return a }

func (c Config) natsHealth() string {
	host, _, _ := net.SplitHostPort(c.natsAddr())
	return "http://" + net.JoinHostPort(host, strconv.Itoa(c.NATSMonitorPort)) + "/healthz?js-enabled-only=true"
}

func (c Config) openSearchAddr() string { a, _ := HostPort(c.OpenSearchURL); return a }

func (c Config) openSearchHealth() string {
	return strings.TrimSuffix(c.OpenSearchURL, "/") + "/_cluster/health?wait_for_status=yellow&timeout=1s"
}
