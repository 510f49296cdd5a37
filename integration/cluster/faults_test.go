package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestClusterFaults starts the two clusters once and runs each fault under
// load on them, one after the other, each with a stream, consumer, indices
// and services of its own.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the cluster test runs 3 NATS and 3 OpenSearch nodes")
	}
	c := startClusters(t)
	t.Run("NATSStreamLeaderKilled", func(t *testing.T) { natsLeaderKilled(t, c) })
	t.Run("OpenSearchPrimaryNodeKilled", func(t *testing.T) { openSearchPrimaryKilled(t, c) })
	t.Run("OneOfTwoIngestsKilled", func(t *testing.T) { ingestKilled(t, c) })
	t.Run("ReplicasNotLoweredByAnInstance", func(t *testing.T) { replicasNotLowered(t, c) })
	t.Run("DeletionThroughAQueryReplicaAndItsJobsNodeKilled", func(t *testing.T) { deletionThroughFaults(t, c) })
}

// loadRate and loadFor are each scenario's load: 10 requests/s of 100
// events, for long enough to cover the fault and the recovery.
const (
	loadRate = 10
	loadFor  = 25 * time.Second
)

// natsLeaderKilled: the node leading the stream is SIGKILLed under load. A
// new leader is elected among the other two (4–9 s in this nats-server);
// meanwhile publishes time out or find no stream, and ingest answers 503
// with Retry-After, never 202. The node is started again and catches up.
func natsLeaderKilled(t *testing.T, c *clusters) {
	s := newStack(t, c)
	s.start()
	l := s.startLoad(loadRate, loadFor)
	// The fault strikes a stream in steady state: every replica current,
	// a few seconds of load stored.
	waitStreamCurrent(t, s, 3)
	testenv.Eventually(t, 30*time.Second, "load accepted", func() bool { return l.watcher.AcceptedEvents() >= 3000 })
	info, err := s.streamInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream: %d replicas, cluster %+v; want 3 replicas with a leader", info.Config.Replicas, info.Cluster)
	}
	old := info.Cluster.Leader
	node := c.nats.Node(old)
	if node == nil {
		t.Fatalf("stream leader %q is none of %v", old, c.nats.Names)
	}
	_ = node.Signal(syscall.SIGKILL)
	if gone, _ := node.Exited(); !gone {
		t.Fatalf("%s still running after SIGKILL", old)
	}
	t.Cleanup(func() { restartIfGone(t, node.Proc) }) // the next scenario starts from a whole cluster
	killed := time.Now()
	s.report(fmt.Sprintf("stream leader %s killed with SIGKILL after %d events accepted", old, l.watcher.AcceptedEvents()))
	var leader string
	testenv.EventuallyState(t, 30*time.Second, "a new stream leader", func() (bool, string) {
		info, err := s.streamInfo()
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != "" && leader != old, "leader " + leader
	})
	s.report(fmt.Sprintf("new stream leader %s after %.1f s", leader, time.Since(killed).Seconds()))
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	s.report(fmt.Sprintf("%s started again %.1f s after the kill", old, time.Since(killed).Seconds()))
	s.account(l, 90*time.Second)
	// The restarted node must have caught up: the stream is back to three
	// current replicas, so it would outlive the loss of another node.
	waitStreamCurrent(t, s, 3)
	if err := c.nats.WaitHealthy(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	s.report(fmt.Sprintf("every replica of the stream current again %.1f s after the kill", time.Since(killed).Seconds()))
}

// waitStreamCurrent waits until the stream has a leader and n-1 replicas,
// all current and online.
func waitStreamCurrent(t *testing.T, s *stack, n int) {
	t.Helper()
	testenv.EventuallyState(t, 2*time.Minute, "every stream replica current", func() (bool, string) {
		info, err := s.streamInfo()
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
			return false, fmt.Sprint(err)
		}
		last := fmt.Sprintf("leader %s, replicas %d", info.Cluster.Leader, len(info.Cluster.Replicas))
		if len(info.Cluster.Replicas) != n-1 {
			return false, last
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false, last + fmt.Sprintf("; %s current %v offline %v", r.Name, r.Current, r.Offline)
			}
		}
		return true, last
	})
}

// openSearchPrimaryKilled: the OpenSearch node holding a primary shard of
// the scenario's current index is SIGKILLed under load. The cluster turns
// yellow, the replica is promoted; enrich's bulks go to the other nodes
// (the client fails over on a refused or cut connection) and refused
// items are retried. The node is started again; the cluster turns green.
func openSearchPrimaryKilled(t *testing.T, c *clusters) {
	s := newStack(t, c)
	s.start()
	l := s.startLoad(loadRate, loadFor)
	testenv.Eventually(t, 30*time.Second, "load accepted", func() bool { return l.watcher.AcceptedEvents() >= 1000 })
	var index, nodeName string
	testenv.Eventually(t, 30*time.Second, "a started primary of the scenario's index", func() bool {
		index, nodeName = primaryNode(c, s.name+"-*")
		return nodeName != ""
	})
	// The fault strikes an index in steady state: its replica started, so
	// the loss of the primary's node loses no shard copy in sync.
	testenv.Eventually(t, time.Minute, "the index green (its replica started)", func() bool { return indexGreen(c, index) })
	node := c.os.Node(nodeName)
	if node == nil {
		t.Fatalf("primary of %s on %q, none of %v", index, nodeName, c.os.Names)
	}
	_ = node.Signal(syscall.SIGKILL)
	if gone, _ := node.Exited(); !gone {
		t.Fatalf("%s still running after SIGKILL", nodeName)
	}
	t.Cleanup(func() { restartIfGone(t, node.Proc) })
	killed := time.Now()
	s.report(fmt.Sprintf("OpenSearch node %s (primary of %s) killed with SIGKILL after %d events accepted", nodeName, index, l.watcher.AcceptedEvents()))
	var h procs.Health
	// Within the 60 s before the replica is rebuilt elsewhere (delayed
	// allocation), the cluster must be yellow: the kill struck a shard copy.
	testenv.EventuallyState(t, 30*time.Second, "cluster yellow with 2 nodes", func() (bool, string) {
		h, _ = c.os.Health(context.Background())
		return h.Status == "yellow" && h.Nodes == 2, fmt.Sprintf("%+v", h)
	})
	s.report(fmt.Sprintf("cluster %s with %d nodes, %d unassigned shards, %.1f s after the kill", h.Status, h.Nodes, h.UnassignedShard, time.Since(killed).Seconds()))
	// Down for a few seconds of load, then started again.
	before := l.watcher.AcceptedEvents()
	testenv.Eventually(t, 30*time.Second, "load accepted with the node down", func() bool { return l.watcher.AcceptedEvents() >= before+2000 })
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := node.WaitHTTP(context.Background(), node.URL+"/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=1s", 2*time.Minute, procs.OK); err != nil {
		t.Fatal(err)
	}
	s.report(fmt.Sprintf("%s started again; cluster green %.1f s after the kill", nodeName, time.Since(killed).Seconds()))
	s.account(l, 90*time.Second)
}

// primaryNode returns an index matching pattern and the node holding its
// started primary shard ("" if none yet).
func primaryNode(c *clusters, pattern string) (index, node string) {
	var shards []struct {
		Index  string `json:"index"`
		Prirep string `json:"prirep"`
		State  string `json:"state"`
		Node   string `json:"node"`
	}
	for _, n := range c.os.Nodes {
		if gone, _ := n.Exited(); gone {
			continue
		}
		res, err := http.Get(n.URL + "/_cat/shards/" + pattern + "?format=json&h=index,prirep,state,node")
		if err != nil {
			continue
		}
		err = json.NewDecoder(res.Body).Decode(&shards)
		res.Body.Close()
		if err != nil {
			continue
		}
		for _, sh := range shards {
			if sh.Prirep == "p" && sh.State == "STARTED" {
				return sh.Index, sh.Node
			}
		}
		return "", ""
	}
	return "", ""
}

// ingestKilled: one of the two ingest instances the client spreads its
// requests over is SIGKILLed under load. Requests in flight to it get no
// answer and are sent to the other instance; nothing it answered 202 is
// lost (it answered only after the quorum's ack).
func ingestKilled(t *testing.T, c *clusters) {
	s := newStack(t, c)
	s.start()
	l := s.startLoad(loadRate, loadFor)
	testenv.Eventually(t, 30*time.Second, "load accepted", func() bool { return l.watcher.AcceptedEvents() >= 1000 })
	victim := s.ingests[0]
	_ = victim.Signal(syscall.SIGKILL)
	if gone, _ := victim.Exited(); !gone {
		t.Fatal("ingest-0 still running after SIGKILL")
	}
	s.report(fmt.Sprintf("ingest-0 killed with SIGKILL after %d events accepted", l.watcher.AcceptedEvents()))
	before := l.watcher.AcceptedEvents()
	testenv.Eventually(t, 30*time.Second, "load accepted by ingest-1 alone", func() bool { return l.watcher.AcceptedEvents() >= before+3000 })
	res, _ := s.account(l, 90*time.Second)
	if res.Statuses["resent-after-no-answer"] == 0 {
		t.Errorf("no request was sent to the other instance after ingest-0 died: the kill did not strike under load (%v)", res.Statuses)
	}
}

// indexGreen reports whether every shard copy of index is started.
func indexGreen(c *clusters, index string) bool {
	for _, n := range c.os.Nodes {
		if gone, _ := n.Exited(); gone {
			continue
		}
		res, err := http.Get(n.URL + "/_cluster/health/" + index + "?wait_for_status=green&timeout=1s")
		if err != nil {
			continue
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	return false
}

// restartIfGone starts p again if a scenario ended (failed) with it down,
// so that the next scenario meets a whole cluster.
func restartIfGone(t *testing.T, p *procs.Proc) {
	if gone, _ := p.Exited(); gone {
		if err := p.Restart(); err != nil {
			t.Errorf("restart %s after the scenario: %v", p.Name(), err)
		}
	}
}
