package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/promscrape"
	"github.com/evtrack/telemetry/platform/testenv"
)

// The people the deletion scenario deletes, and how many events each has.
const (
	deletedApp   = "app-cluster"
	firstPerson  = "user-gone"
	firstEvents  = 400 // 40 pages of 10: several seconds of work
	secondPerson = "user-gone-later"
	secondEvents = 20
	otherEvents  = 100
)

// deletionThroughFaults: a person's deletion runs on one of two query
// replicas, which is SIGKILLed mid-job; the other replica takes the job
// over once its lease (5 s) has run out and completes it. Then the
// OpenSearch node holding the primary of the deletion jobs index is
// SIGKILLed: with the index's replica (OPENSEARCH_INDEX_REPLICAS, as for
// every index the services make) the job is still reported, and a new
// deletion is taken and completed, with the node down.
func deletionThroughFaults(t *testing.T, c *clusters) {
	s := newStack(t, c)
	s.start() // enrich instances are what a deletion waits for (their suppression status)
	s.seedPeople()
	queries := []*queryProc{s.query("query-0", nil), s.query("query-1", nil)}

	id := s.requestDeletion(queries[0], firstPerson)
	// The runner is the replica whose counter of deleted events moves.
	var runner, other *queryProc
	testenv.Eventually(t, 30*time.Second, "one replica deleting the person's events", func() bool {
		for i, q := range queries {
			if deletedEvents(q) > 0 {
				runner, other = q, queries[1-i]
				return true
			}
		}
		return false
	})
	_ = runner.Signal(syscall.SIGKILL)
	if gone, _ := runner.Exited(); !gone {
		t.Fatalf("%s still running after SIGKILL", runner.Name())
	}
	killed := time.Now()
	// The kill struck a job in progress: stored as running, events left.
	stored := s.storedJob(id)
	if stored.State != "running" || stored.DeletedEvents >= firstEvents {
		t.Fatalf("after the kill the job is %+v: it was not in progress, so nothing is tested", stored)
	}
	s.report(fmt.Sprintf("%s (running the deletion) killed with SIGKILL after %d of %d events deleted", runner.Name(), stored.DeletedEvents, firstEvents))
	j := s.waitCompleted(other, id, 60*time.Second)
	s.report(fmt.Sprintf("%s completed the job %.1f s after the kill (lease 5 s): %d events deleted, %d by it",
		other.Name(), time.Since(killed).Seconds(), j.DeletedEvents, int(deletedEvents(other))))
	if deletedEvents(other) == 0 {
		t.Errorf("%s deleted nothing: it did not resume the job", other.Name())
	}
	s.checkPeople(map[string]int{firstPerson: 0, secondPerson: secondEvents})

	// The deletion jobs index must live through the loss of a node.
	jobs := "deletions-" + s.name
	testenv.Eventually(t, time.Minute, "the jobs index green (every copy started)", func() bool { return indexGreen(c, jobs) })
	shards := jobShards(c, jobs)
	index, nodeName := primaryNode(c, jobs)
	node := c.os.Node(nodeName)
	if index != jobs || node == nil {
		t.Fatalf("primary of %s on %q, none of %v", jobs, nodeName, c.os.Names)
	}
	_ = node.Signal(syscall.SIGKILL)
	if gone, _ := node.Exited(); !gone {
		t.Fatalf("%s still running after SIGKILL", nodeName)
	}
	t.Cleanup(func() { restartIfGone(t, node.Proc) })
	killed = time.Now()
	s.report(fmt.Sprintf("OpenSearch node %s (primary of %s; its copies: %s) killed with SIGKILL", nodeName, jobs, shards))
	var h procs.Health
	testenv.EventuallyState(t, 30*time.Second, "the cluster without the node", func() (bool, string) {
		h, _ = c.os.Health(context.Background())
		return h.Nodes == 2 && h.Status != "green", fmt.Sprintf("%+v", h)
	})
	// With the node down: the finished job is reported, a new deletion is
	// taken and completes. Bounded: a red jobs index stays red until the
	// node comes back.
	var code int
	var body string
	testenv.EventuallyState(t, 30*time.Second, "the finished job reported with the node down", func() (bool, string) {
		code, body = call(other, http.MethodGet, "/v1/deletions/"+id)
		return code == http.StatusOK, fmt.Sprintf("%d %.300s", code, body)
	})
	var later string
	testenv.EventuallyState(t, 30*time.Second, "a new deletion taken with the node down", func() (bool, string) {
		code, body = call(other, http.MethodDelete, "/v1/users/"+secondPerson+"?app_id="+deletedApp)
		if code == http.StatusOK {
			later = decodeJob(t, body).JobID
		}
		return code == http.StatusOK, fmt.Sprintf("%d %.300s", code, body)
	})
	j = s.waitCompleted(other, later, 60*time.Second)
	s.report(fmt.Sprintf("with %s down (cluster %s): a new deletion taken and completed %.1f s after the kill, %d events deleted",
		nodeName, h.Status, time.Since(killed).Seconds(), j.DeletedEvents))
	s.checkPeople(map[string]int{firstPerson: 0, secondPerson: 0})

	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := node.WaitHTTP(context.Background(), node.URL+"/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=1s", 2*time.Minute, procs.OK); err != nil {
		t.Fatal(err)
	}
	s.report(fmt.Sprintf("%s started again; cluster green %.1f s after the kill", nodeName, time.Since(killed).Seconds()))
}

// seedPeople writes, straight into today's events index (made by enrich's
// template, so with the cluster's replicas), the events of the two people
// deleted and of others.
func (s *stack) seedPeople() {
	s.t.Helper()
	now := time.Now().UTC()
	var body opensearchx.BulkBody
	add := func(user string, n int) {
		for i := range n {
			id := fmt.Sprintf("%s-%d", user, i)
			doc, _ := json.Marshal(map[string]string{"app_id": deletedApp, "event_id": id, "user_id": user, "event_name": "seeded",
				"timestamp": now.Format(time.RFC3339), "client_timestamp": now.Format(time.RFC3339)})
			body.Create(eventdoc.IndexName(s.name, now), eventdoc.ID(deletedApp, id), doc)
		}
	}
	add(firstPerson, firstEvents)
	add(secondPerson, secondEvents)
	add("user-kept", otherEvents)
	testenv.Bulk(s.t, s.c.os.URLs(), &body)
	s.checkPeople(map[string]int{firstPerson: firstEvents, secondPerson: secondEvents})
}

// checkPeople fails the test unless each person (and everyone else, with
// otherEvents) has the given number of events indexed.
func (s *stack) checkPeople(want map[string]int) {
	s.t.Helper()
	want["user-kept"] = otherEvents
	for user, n := range want {
		var got int
		testenv.EventuallyState(s.t, 30*time.Second, fmt.Sprintf("%d events of %s", n, user), func() (bool, string) {
			docs, err := testenv.Sources(s.t, s.c.os.URLs(), s.name+"-*",
				fmt.Sprintf(`{"size":1000,"_source":["event_id"],"query":{"term":{"user_id":%q}}}`, user))
			if err != nil {
				return false, err.Error()
			}
			got = len(docs)
			return got == n, fmt.Sprint(got)
		})
	}
}

// deletionJob is a deletion job as the HTTP face shows it.
type deletionJob struct {
	JobID         string `json:"job_id"`
	State         string `json:"state"`
	Phase         string `json:"phase"`
	DeletedEvents int64  `json:"deleted_events,string"`
}

// requestDeletion asks q to delete user's events and returns the job's id.
func (s *stack) requestDeletion(q *queryProc, user string) string {
	s.t.Helper()
	code, body := call(q, http.MethodDelete, "/v1/users/"+user+"?app_id="+deletedApp)
	if code != http.StatusOK {
		s.t.Fatalf("DELETE %s: %d %s", user, code, body)
	}
	return decodeJob(s.t, body).JobID
}

// waitCompleted waits until q reports job id completed.
func (s *stack) waitCompleted(q *queryProc, id string, within time.Duration) deletionJob {
	s.t.Helper()
	var j deletionJob
	testenv.EventuallyState(s.t, within, "deletion job "+id+" completed", func() (bool, string) {
		code, body := call(q, http.MethodGet, "/v1/deletions/"+id)
		if code != http.StatusOK {
			return false, fmt.Sprintf("%d %.300s", code, body)
		}
		j = decodeJob(s.t, body)
		return j.State == "DELETION_STATE_COMPLETED", fmt.Sprintf("%+v", j)
	})
	return j
}

// storedJob reads job id straight from the jobs index.
func (s *stack) storedJob(id string) (j struct {
	State         string `json:"state"`
	DeletedEvents int64  `json:"deleted_events"`
}) {
	s.t.Helper()
	var doc struct {
		Source json.RawMessage `json:"_source"`
	}
	if err := json.Unmarshal(testenv.Do(s.t, s.c.os.URLs(), http.MethodGet, "/deletions-"+s.name+"/_doc/"+id, ""), &doc); err != nil {
		s.t.Fatal(err)
	}
	if err := json.Unmarshal(doc.Source, &j); err != nil {
		s.t.Fatal(err)
	}
	return j
}

func decodeJob(t *testing.T, body string) deletionJob {
	t.Helper()
	var res struct {
		Job deletionJob `json:"job"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || res.Job.JobID == "" {
		t.Fatalf("decode job from %s: %v", body, err)
	}
	return res.Job
}

// queryClient bounds each call: a request the service cannot answer (its
// store down) must fail the check, not hang it.
var queryClient = &http.Client{Timeout: 15 * time.Second}

// call sends method path to q with the delete token; a transport error is
// status 0.
func call(q *queryProc, method, path string) (int, string) {
	req, err := http.NewRequest(method, q.url+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+deleteToken)
	res, err := queryClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// deletedEvents is q's count of the events its deletion jobs deleted.
func deletedEvents(q *queryProc) float64 {
	fams, err := promscrape.Scrape(context.Background(), &http.Client{Timeout: 5 * time.Second}, q.url+"/metrics")
	if err != nil {
		return 0
	}
	n, _ := fams.Sum("query_deleted_documents_total", promscrape.Labels{"kind": "event"})
	return n
}

// jobShards lists the copies of index's shard: prirep, state and node.
func jobShards(c *clusters, index string) string {
	for _, n := range c.os.Nodes {
		if gone, _ := n.Exited(); gone {
			continue
		}
		res, err := http.Get(n.URL + "/_cat/shards/" + index + "?h=prirep,state,node")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return fmt.Sprintf("%q", b)
	}
	return ""
}
