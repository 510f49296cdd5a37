package digitalocean

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestRenderedNATSNodesFormACluster starts the three rendered nats.conf
// files as they are but for their addresses (node i on 127.0.0.1i in place
// of its VPC address, the store in a temporary folder) and checks that they
// form the cluster the deploy needs: each node healthy with JetStream, a
// meta group of three, and routes to the two others. `nats-server -t` only
// parses a configuration; node 1 of the chain, which named no route, passed
// it and then exited at start ("JetStream cluster requires configured
// routes"), leaving a cluster of two that cannot hold a stream of three
// replicas.
func TestRenderedNATSNodesFormACluster(t *testing.T) {
	bin := os.Getenv("NATS_SERVER_BIN")
	if bin == "" {
		t.Fatal("NATS_SERVER_BIN: the nats-server the tests run (make test sets it)")
	}
	loopback := func(i int) string { return fmt.Sprintf("127.0.0.%d", 11+i) }
	var nodes []*node
	for _, n := range renderedNodes(t)["droplets"] {
		if n.role == "nats" {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) != len(testNATSIPs) {
		t.Fatalf("%d NATS nodes rendered, want %d", len(nodes), len(testNATSIPs))
	}
	for i, n := range nodes {
		dir := writeFiles(t, n)
		conf, err := os.ReadFile(filepath.Join(dir, "nats.conf"))
		if err != nil {
			t.Fatal(err)
		}
		c := strings.ReplaceAll(string(conf), "0.0.0.0:", loopback(i)+":")
		c = strings.ReplaceAll(c, "nats-route://127.0.0.1:", "nats-route://"+loopback(i)+":")
		for j, ip := range testNATSIPs {
			c = strings.ReplaceAll(c, "nats-route://"+ip+":", "nats-route://"+loopback(j)+":")
		}
		c = strings.Replace(c, "store_dir: /data", "store_dir: "+filepath.Join(dir, "data"), 1)
		if err := os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		testenv.StartProc(t, procs.Spec{Name: n.name, Path: bin, Args: []string{"-c", filepath.Join(dir, "nats.conf")},
			Env: map[string]string{"NATS_CLUSTER_ADVERTISE": loopback(i) + ":6222"}, LogPath: filepath.Join(dir, "nats.log")})
	}
	for i, n := range nodes {
		monitor := "http://" + loopback(i) + ":8222"
		testenv.EventuallyState(t, 60*time.Second, n.name+" healthy, in a JetStream meta group of 3, routed to both others", func() (bool, string) {
			res, err := http.Get(monitor + "/healthz")
			if err != nil {
				return false, err.Error()
			}
			res.Body.Close()
			var jsz struct {
				Meta struct {
					Size   int    `json:"cluster_size"`
					Leader string `json:"leader"`
				} `json:"meta_cluster"`
			}
			var routez struct {
				Routes []struct {
					RemoteName string `json:"remote_name"`
				} `json:"routes"`
			}
			if err := getJSON(monitor+"/jsz", &jsz); err != nil {
				return false, err.Error()
			}
			if err := getJSON(monitor+"/routez", &routez); err != nil {
				return false, err.Error()
			}
			peers := map[string]bool{}
			for _, r := range routez.Routes {
				peers[r.RemoteName] = true
			}
			state := fmt.Sprintf("healthz %d, meta group of %d led by %q, routes to %d distinct nodes (%d routes)",
				res.StatusCode, jsz.Meta.Size, jsz.Meta.Leader, len(peers), len(routez.Routes))
			return res.StatusCode == http.StatusOK && jsz.Meta.Size == 3 && jsz.Meta.Leader != "" && len(peers) == 2, state
		})
	}
}

func getJSON(url string, v any) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
