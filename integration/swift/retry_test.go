package swift

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// answerLoser stands between the SDK and ingest: it forwards each request and
// reads ingest's answer, but cuts the connection instead of passing on the
// first lose answers — a network that drops after the server stored the
// batch and before its answer arrived. It keeps every answer ingest gave.
type answerLoser struct {
	target  string
	mu      sync.Mutex
	lose    int
	answers []trackAnswer
}

// trackAnswer is ingest's answer to one POST /v1/track.
type trackAnswer struct {
	Status     int
	Accepted   int `json:"accepted"`
	Rejected   int `json:"rejected"`
	Duplicates int `json:"duplicates"`
}

func newAnswerLoser(t *testing.T, target string, lose int) (*answerLoser, string) {
	t.Helper()
	l := &answerLoser{target: target, lose: lose}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return l, srv.URL
}

func (l *answerLoser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+l.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	a := trackAnswer{Status: resp.StatusCode}
	_ = json.Unmarshal(out, &a)
	l.mu.Lock()
	l.answers = append(l.answers, a)
	lose := l.lose > 0
	if lose {
		l.lose--
	}
	l.mu.Unlock()
	if lose {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

func (l *answerLoser) given() []trackAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]trackAnswer(nil), l.answers...)
}

// TestSwiftSDKRetriesTheSameBatchSoIngestStoresItOnce: ingest stores a batch
// of 20 events but its answer is lost on the way back; the app is relaunched
// and tracks 5 more before the retry. The retry must carry exactly the 20 —
// ingest recognises a retried batch by its event ids (the JetStream message
// id hashes them) and answers it with `duplicates: 20` instead of storing
// the events a second time — and the 5 go in a request of their own. Every
// event is then read back once through the query API.
func TestSwiftSDKRetriesTheSameBatchSoIngestStoresItOnce(t *testing.T) {
	s := names(t).Start()
	cli := buildProduct(t, "evtrack-cli", "debug")
	front, url := newAnswerLoser(t, s.IngestAddr, 1)
	queue := t.TempDir()
	user := "swift-retry-" + strings.TrimPrefix(s.Prefix, "swift-")
	args := func(extra ...string) []string {
		return append(extra, "--endpoint", url, "--write-key", writeKey, "--storage", filepath.Join(queue, "q"),
			"--user", user, "--batch", "50", "--retry-base", "0.2", "--retry-max", "1", "--verbose")
	}
	tracked := map[string]bool{}
	collect := func(lines []string) {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "tracked" {
				tracked[f[1]] = true
			}
		}
	}

	// 1. 20 events, one request: stored by ingest, its answer lost; the run ends with them queued.
	code, lines := startCLI(t, queue, cli, args("send", "--count", "20", "--name", "first", "--timeout", "0")...).wait(t)
	collect(lines)
	if sum := parseSummary(t, lines); code != 3 || sum.Remaining != 20 || len(front.given()) != 1 || front.given()[0] != (trackAnswer{Status: 202, Accepted: 20}) {
		t.Fatalf("first run: exit %d, %+v, ingest answered %+v; want the 20 stored by ingest and still queued", code, sum, front.given())
	}

	// 2. Relaunched: 5 more tracked, then the retry.
	code, lines = startCLI(t, queue, cli, args("send", "--count", "5", "--name", "later", "--timeout", "30")...).wait(t)
	collect(lines)
	sum := parseSummary(t, lines)
	if code != 0 || !sum.Complete || sum.Delivered != 25 || len(tracked) != 25 {
		t.Fatalf("second run: exit %d, %+v, %d tracked in all; want all 25 delivered", code, sum, len(tracked))
	}
	want := []trackAnswer{{Status: 202, Accepted: 20}, {Status: 202, Duplicates: 20}, {Status: 202, Accepted: 5}}
	if got := front.given(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ingest answered %+v; want %+v: the retry is the stored batch, recognised and not stored again", got, want)
	}
	if sum.Duplicates != 20 {
		t.Errorf("the SDK counted %d duplicates, ingest answered 20", sum.Duplicates)
	}

	// Each event indexed once, and once in the user's history. (The query
	// API answers 503 until enrich has created the test's index: wait on the
	// documents first.)
	docs := map[string]int64{}
	testenv.EventuallyState(t, 60*time.Second, "every event indexed", func() (bool, string) {
		clear(docs)
		if err := loadgen.ScanEventIDs(t.Context(), testenv.OpenSearch(t, s.OpenSearchURL), eventdoc.Pattern(s.Prefix), "",
			func(_, id string, n int64) { docs[id] += n }); err != nil {
			return false, err.Error()
		}
		return len(docs) >= len(tracked), fmt.Sprintf("%d of %d", len(docs), len(tracked))
	})
	got := userEvents(t, s, user)
	for id := range tracked {
		if docs[id] != 1 || got[id] != 1 {
			t.Errorf("event %s: %d documents, read back %d times", id, docs[id], got[id])
		}
	}
}
