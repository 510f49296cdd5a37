package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/platform/credentials"
	"github.com/evtrack/telemetry/platform/testenv"
)

// job is a deletion job as the HTTP face shows it.
type job struct {
	JobID              string `json:"job_id"`
	State              string `json:"state"`
	Phase              string `json:"phase"`
	Total              int64  `json:"total,string"`
	Deleted            int64  `json:"deleted,string"`
	DeletedEvents      int64  `json:"deleted_events,string"`
	DeletedDeadLetters int64  `json:"deleted_dead_letters,string"`
}

func call(t *testing.T, addr, method, path, token string, out any) (int, string) {
	t.Helper()
	return callBody(t, addr, method, path, token, "", out)
}

func callBody(t *testing.T, addr, method, path, token, body string, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return res.StatusCode, string(b)
}

func jobStatus(t *testing.T, addr, id string) job {
	t.Helper()
	var res struct {
		Job job `json:"job"`
	}
	if code, body := call(t, addr, http.MethodGet, "/v1/deletions/"+id, deleteToken, &res); code != http.StatusOK {
		t.Fatalf("GET deletion %s: %d %s", id, code, body)
	}
	return res.Job
}

// personCount counts the person's event documents (app and either id).
func (s *fixture) personCount(t *testing.T) int {
	docs, err := testenv.Sources(t, s.OpenSearchURL, s.Prefix+"-*", fmt.Sprintf(
		`{"size":10000,"_source":["event_id"],"query":{"bool":{"filter":[{"term":{"app_id":%q}},{"bool":{"should":[{"term":{"user_id":%q}},{"term":{"anonymous_id":%q}}]}}]}}}`,
		appID, goneUser, goneAnon))
	if err != nil {
		t.Fatal(err)
	}
	return len(docs)
}

// othersIndexed is the distinct app/event ids of everyone else's events.
func (s *fixture) othersIndexed(t *testing.T) (map[string]bool, error) {
	docs, err := testenv.Sources(t, s.OpenSearchURL, s.Prefix+"-*", `{"size":10000,"_source":["app_id","event_id","user_id","anonymous_id"]}`)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range docs {
		e := event{AppID: str(d["app_id"]), EventID: str(d["event_id"]), UserID: str(d["user_id"]), AnonymousID: str(d["anonymous_id"])}
		if !e.person() {
			out[e.AppID+"/"+e.EventID] = true
		}
	}
	return out, nil
}

func str(v any) string { s, _ := v.(string); return s }

func TestDeleteUserAcrossDaysAndDeadLettersWhileEventsArrive(t *testing.T) {
	if testing.Short() {
		t.Skip("needs NATS and OpenSearch")
	}
	s := newStack(t)
	in := s.Ingest()
	en := s.Enrich()
	q1, stopQ1 := s.QueryStop()
	now := time.Now().UTC()
	seeded, _ := s.seed(now)

	snd := &sender{url: "http://" + in.Addr(), others: map[string]bool{}}
	ctx, stopSending := context.WithCancel(context.Background())
	sending := make(chan struct{})
	go func() { snd.run(ctx, t); close(sending) }()
	t.Cleanup(func() { stopSending(); <-sending })
	testenv.Eventually(t, 60*time.Second, "live events of the person indexed", func() bool {
		return s.personCount(t) > days*10+5
	})

	// Everyone else, before: counted by distinct ids.
	before, err := s.othersIndexed(t)
	if err != nil {
		t.Fatal(err)
	}
	for id := range seeded {
		if !before[id] {
			t.Fatalf("seeded event %s missing before the deletion", id)
		}
	}

	// A token without the delete permission: 403, and audited.
	path := "/v1/users/" + goneUser + "?app_id=" + appID + "&anonymous_id=" + goneAnon
	if code, body := call(t, q1.HTTPAddr(), http.MethodDelete, path, readToken, nil); code != http.StatusForbidden {
		t.Fatalf("DELETE with a read-only token: %d %s, want 403", code, body)
	}
	if code, _ := call(t, q1.HTTPAddr(), http.MethodGet, "/v1/deletions/00000000000000000000000000000000", readToken, nil); code != http.StatusForbidden {
		t.Fatalf("GET deletion with a read-only token: %d, want 403", code)
	}
	conn, err := grpc.NewClient(q1.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = queryv1.NewQueryServiceClient(conn).DeleteUser(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+readToken),
		&queryv1.DeleteUserRequest{AppId: appID, UserId: goneUser})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("gRPC DeleteUser with a read-only token: %v, want PermissionDenied", err)
	}

	var started struct {
		Job job `json:"job"`
	}
	if code, body := call(t, q1.HTTPAddr(), http.MethodDelete, path, deleteToken, &started); code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	id := started.Job.JobID
	var again struct {
		Job job `json:"job"`
	}
	// Asked again, the other way (POST /v1/deletions): the same job.
	if code, body := callBody(t, q1.HTTPAddr(), http.MethodPost, "/v1/deletions", deleteToken,
		fmt.Sprintf(`{"app_id":%q,"user_id":%q,"anonymous_id":%q}`, appID, goneUser, goneAnon), &again); code != http.StatusOK || again.Job.JobID != id {
		t.Fatalf("POST /v1/deletions again while the job runs: %d %s, want job %s", code, body, id)
	}

	// Stop the query service in the middle of the job.
	var mid job
	testenv.EventuallyState(t, 60*time.Second, "job part-way through its events", func() (bool, string) {
		mid = jobStatus(t, q1.HTTPAddr(), id)
		return mid.Phase == "deleting_events" && mid.Deleted > 0 && mid.Deleted < mid.Total, fmt.Sprintf("%+v", mid)
	})
	if err := stopQ1(); err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Source struct {
			State         string `json:"state"`
			DeletedEvents int64  `json:"deleted_events"`
			Total         int64  `json:"total"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(testenv.Do(t, s.OpenSearchURL, http.MethodGet, "/deletions-"+s.Prefix+"/_doc/"+id, ""), &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Source.State != "running" || stored.Source.DeletedEvents >= stored.Source.Total {
		t.Fatalf("after the stop the job is %+v, want running with events left", stored.Source)
	}
	if s.personCount(t) == 0 {
		t.Fatal("no document of the person left after the stop: the restart would prove nothing")
	}
	t.Logf("stopped mid-job: %+v", mid)

	q2, _ := s.QueryStop()
	var done job
	testenv.EventuallyState(t, 120*time.Second, "job completed after the restart", func() (bool, string) {
		done = jobStatus(t, q2.HTTPAddr(), id)
		return done.State == "DELETION_STATE_COMPLETED", fmt.Sprintf("%+v", done)
	})
	if done.Total < days*10+3 || done.Deleted > done.Total || done.DeletedDeadLetters != 3 {
		t.Fatalf("completed job %+v: want total ≥ %d, deleted ≤ total, 3 dead letters", done, days*10+3)
	}

	// Events of the person keep arriving after the deletion; then stop.
	goneAtDone := snd.gone.Load()
	testenv.Eventually(t, 30*time.Second, "more of the person's events sent after the deletion", func() bool {
		return snd.gone.Load() >= goneAtDone+20
	})
	stopSending()
	<-sending
	// A last batch, with the person's events and others': once the others'
	// are in, enrich has handled the person's too.
	if !snd.post(t, true) {
		t.Fatal("last batch not accepted")
	}
	want := snd.accepted()
	for id := range seeded {
		want[id] = true
	}
	var after map[string]bool
	testenv.EventuallyState(t, 60*time.Second, "every other event indexed", func() (bool, string) {
		after, err = s.othersIndexed(t)
		if err != nil {
			return false, err.Error()
		}
		missing := 0
		for id := range want {
			if !after[id] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(want))
	})
	if len(after) != len(want) {
		t.Fatalf("others' distinct events: %d, want %d", len(after), len(want))
	}
	for id := range before {
		if !after[id] {
			t.Fatalf("%s, indexed before the deletion, is gone after it", id)
		}
	}
	t.Logf("others' distinct events: %d before the deletion, %d after (live traffic went on)", len(before), len(after))

	// Nothing of the person anywhere.
	if n := s.personCount(t); n != 0 {
		t.Fatalf("%d event documents of the person after the deletion", n)
	}
	letters, err := testenv.Sources(t, s.OpenSearchURL, "deadletter-"+s.Prefix+"*", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range letters {
		if b, _ := json.Marshal(l["document"]); strings.Contains(string(b), goneUser) || strings.Contains(string(b), goneAnon) {
			t.Fatalf("a dead letter of the person is left: %s", b)
		}
	}
	if len(letters) != 2 {
		t.Fatalf("%d dead letters left, want the 2 of others", len(letters))
	}

	// The person's later events were suppressed, and counted.
	_, metrics := testenv.Get(t, "http://"+en.Addr()+"/metrics")
	var suppressed float64
	for _, line := range strings.Split(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, "enrich_suppressed_events_total "); ok {
			fmt.Sscan(v, &suppressed)
		}
	}
	if suppressed < 20 {
		t.Fatalf("enrich_suppressed_events_total = %v, want at least the 20 events sent after the deletion", suppressed)
	}

	// The audit trail: the refusal, the request and the completion, with
	// fingerprints and never the ids.
	readPrincipal := credentials.Fingerprint("token", readToken)
	testenv.EventuallyState(t, 30*time.Second, "deletion audited", func() (bool, string) {
		entries, err := testenv.Sources(t, s.OpenSearchURL, "audit-"+s.Prefix+"-*",
			`{"size":1000,"query":{"terms":{"method":["DeleteUser","DeleteUserCompleted","GetDeletion"]}}}`)
		if err != nil {
			return false, err.Error()
		}
		var refused, refusedGRPC, requested, completed bool
		for _, e := range entries {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), goneUser) || strings.Contains(string(b), goneAnon) {
				t.Fatalf("an audit entry holds the person's id: %s", b)
			}
			f, _ := e["filters"].(map[string]any)
			switch {
			case e["method"] == "DeleteUser" && e["status"] == "PermissionDenied" && e["principal"] == readPrincipal && e["transport"] == "http":
				refused = true
			case e["method"] == "DeleteUser" && e["status"] == "PermissionDenied" && e["principal"] == readPrincipal && e["transport"] == "grpc":
				refusedGRPC = true
			case e["method"] == "DeleteUser" && e["status"] == "OK" && f["job_id"] == id && strings.HasPrefix(str(f["user_id"]), "sha256:"):
				requested = true
			case e["method"] == "DeleteUserCompleted" && f["job_id"] == id:
				completed = true
			}
		}
		return refused && refusedGRPC && requested && completed,
			fmt.Sprintf("refused over HTTP %v, over gRPC %v, requested %v, completed %v", refused, refusedGRPC, requested, completed)
	})

	// The completed job keeps no id of the person.
	raw := testenv.Do(t, s.OpenSearchURL, http.MethodGet, "/deletions-"+s.Prefix+"/_doc/"+url.PathEscape(id), "")
	if strings.Contains(string(raw), goneUser) || strings.Contains(string(raw), goneAnon) {
		t.Fatalf("the completed job holds the person's id: %s", raw)
	}
}
