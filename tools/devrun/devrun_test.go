package devrun

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/testenv"
)

func TestEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    map[string]string
	}{
		{"development defaults", []string{"HOME=/root"}, map[string]string{
			"HOME": "/root", "NATS_URL": "nats://127.0.0.1:4222", "OPENSEARCH_URL": "http://127.0.0.1:9200",
			"INGEST_WRITE_KEYS": "dev-write-key-change-me:demo-app", "QUERY_TOKENS": "dev-read-token-change-me:*",
			"INGEST_HTTP_ADDR": "127.0.0.1:8080", "INGEST_GRPC_ADDR": "127.0.0.1:9091", "ENRICH_HTTP_ADDR": "127.0.0.1:8081",
			"QUERY_HTTP_ADDR": "127.0.0.1:8082", "QUERY_GRPC_ADDR": "127.0.0.1:9090", "LOG_LEVEL": "info"}},
		{"the environment wins", []string{"QUERY_TOKENS=real:app", "INGEST_HTTP_ADDR=0.0.0.0:80", "EXTRA=a=b"}, map[string]string{
			"QUERY_TOKENS": "real:app", "INGEST_HTTP_ADDR": "0.0.0.0:80", "EXTRA": "a=b", "INGEST_GRPC_ADDR": "127.0.0.1:9091"}},
		{"empty is unset, as ${X:-default}", []string{"LOG_LEVEL="}, map[string]string{"LOG_LEVEL": "info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Env(tt.environ)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q", k, got[k], v)
				}
			}
		})
	}
	// The query service refuses to start without a page-token key of at
	// least 32 bytes, in hex.
	key, err := hex.DecodeString(Env(nil)["QUERY_PAGE_TOKEN_KEY"])
	if err != nil || len(key) < 32 {
		t.Fatalf("QUERY_PAGE_TOKEN_KEY default: %d bytes, %v; want >= 32 bytes of hex", len(key), err)
	}
}

// curls are the curl commands of a message: the POST, then the GET.
func curls(t *testing.T, msg string) (post, get string) {
	t.Helper()
	m := regexp.MustCompile(`(?s)\n  (curl -sS -X POST .*?\]')\n.*\n  (curl -sS '[^\n]*)\n`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no curl examples in\n%s", msg)
	}
	return m[1], m[2]
}

func TestMessage(t *testing.T) {
	env := Env([]string{"INGEST_WRITE_KEYS=wk1:app1,wk2:app2", "QUERY_TOKENS=rt1:*"})
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	msg := Message(env, "/r/.cache/run", now)
	post, get := curls(t, msg)
	for _, want := range []string{
		"curl -sS -X POST http://127.0.0.1:8080/v1/track \\\n    -H 'Authorization: Bearer wk1' -H 'Content-Type: application/json' \\\n    -d '[",
		`"client_timestamp":"2026-11-26T09:00:00Z"`,
	} {
		if !strings.Contains(post, want) {
			t.Errorf("POST example\n%s\nlacks %q", post, want)
		}
	}
	body := post[strings.Index(post, "-d '")+4 : len(post)-1]
	var batch []map[string]any
	if err := json.Unmarshal([]byte(body), &batch); err != nil || len(batch) != 1 || batch[0]["user_id"] != "user-1" {
		t.Errorf("POST body %s: %v, %v; want one event of user-1", body, batch, err)
	}
	if want := "curl -sS 'http://127.0.0.1:8082/v1/users/user-1/events' -H 'Authorization: Bearer rt1'"; get != want {
		t.Errorf("GET example %q, want %q", get, want)
	}
	for _, want := range []string{"geo: off", "logs    /r/.cache/run/{ingest,enrich,query}.log", "gRPC 127.0.0.1:9090 (reflection on)", "NATS    nats://127.0.0.1:4222"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "$") {
		t.Errorf("unexpanded variable in\n%s", msg)
	}
}

// TestRunServesItsCurlExamples is `make run` against the servers of `make
// test`: the curl examples it prints work, and Ctrl-C stops what it started
// but not the servers, which it did not start.
func TestRunServesItsCurlExamples(t *testing.T) {
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "devrun")
	testenv.DeleteIndexData(t, osURL, name)
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	t.Cleanup(func() { deleteStream(natsURL, stream) })
	environ := append(os.Environ(), "NATS_URL="+natsURL, "OPENSEARCH_URL="+osURL, "GEOIP_DB=off", "KEEP_SERVERS=", "LOG_LEVEL=warn",
		"EVENTS_STREAM="+stream, "EVENTS_SUBJECT_PREFIX="+strings.ReplaceAll(name, "-", "_")+".events", "EVENTS_INDEX_PREFIX="+name)
	for _, k := range []string{"INGEST_HTTP_ADDR", "INGEST_GRPC_ADDR", "ENRICH_HTTP_ADDR", "QUERY_HTTP_ADDR", "QUERY_GRPC_ADDR"} {
		a, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		environ = append(environ, k+"="+a)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout, progress testenv.Logs
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "../..", Dirs{Run: t.TempDir(), Bin: t.TempDir()}, environ, &stdout, &progress)
	}()
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(stdout.String(), "Ctrl-C stops") {
		select {
		case err := <-done:
			t.Fatalf("run ended before it was ready: %v\n%s", err, progress.String())
		case <-deadline:
			t.Fatalf("run not ready in 3 minutes:\n%s", progress.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if log := progress.String(); !strings.Contains(log, "servers: nats already answers") || !strings.Contains(log, "servers: opensearch already answers") {
		t.Fatalf("run did not use the running servers:\n%s", log)
	}

	post, get := curls(t, stdout.String())
	out, err := exec.Command("bash", "-c", post).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"accepted":1`) {
		t.Fatalf("%s\n→ %s %v", post, out, err)
	}
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		out, err = exec.Command("bash", "-c", get).CombinedOutput()
		if err == nil && strings.Contains(string(out), `"event_id":"demo-1"`) {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s\n→ %s %v; want the event back", get, out, err)
		}
	}

	stop() // Ctrl-C
	if err := <-done; err != nil {
		t.Fatalf("run after Ctrl-C: %v", err)
	}
	if log := progress.String(); strings.Contains(log, "servers: stopping") {
		t.Fatalf("run stopped servers it did not start:\n%s", log)
	}
	testenv.NATSURL(t)
	testenv.OpenSearchURL(t)
}

func deleteStream(url, stream string) {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return
	}
	defer nc.Close()
	if js, err := jetstream.New(nc); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
	}
}

// TestClusterInstanceEnv: every instance of cluster mode gets the clusters'
// URL lists, 3 stream replicas, 1 index replica and ports of its own, laid
// out from the base without overlaps.
func TestClusterInstanceEnv(t *testing.T) {
	l := ClusterLayout(14200)
	base := Env(nil)
	seen := map[string]string{}
	for _, svc := range []string{"ingest", "enrich", "query"} {
		for i := range clusterInstances {
			env := instanceEnv(base, l, svc, i, "nats://a,nats://b", "http://a,http://b")
			if env["NATS_URL"] != "nats://a,nats://b" || env["OPENSEARCH_URL"] != "http://a,http://b" ||
				env["EVENTS_STREAM_REPLICAS"] != "3" || env["OPENSEARCH_INDEX_REPLICAS"] != "1" || env["SUPPRESSION_REPLICAS"] != "3" {
				t.Fatalf("%s-%d: %v", svc, i, env)
			}
			for _, k := range []string{"INGEST_HTTP_ADDR", "INGEST_GRPC_ADDR", "ENRICH_HTTP_ADDR", "QUERY_HTTP_ADDR", "QUERY_GRPC_ADDR"} {
				if env[k] == base[k] {
					continue // not this service's own
				}
				if other, ok := seen[env[k]]; ok {
					t.Fatalf("%s-%d %s=%s is %s's too", svc, i, k, env[k], other)
				}
				seen[env[k]] = svc + " " + k
			}
		}
	}
	if len(seen) != 10 || base["INGEST_HTTP_ADDR"] != "127.0.0.1:8080" {
		t.Fatalf("want 10 addresses of their own and the caller's environment untouched; got %v", seen)
	}
	for _, p := range []int{l.NATSClient + 2, l.NATSRoute + 2, l.NATSMonitor + 2, l.OpenSearchHTTP + 2, l.OpenSearchTransport + 2} {
		if _, ok := seen["127.0.0.1:"+strconv.Itoa(p)]; ok {
			t.Fatalf("server port %d is a service's too", p)
		}
	}
}

func TestClusterExamples(t *testing.T) {
	msg := clusterExamples(Env(nil), "/logs", time.Now())
	for _, want := range []string{"/logs/{ingest,enrich,query}-{0,1}.log, nats-{0,1,2}.log, os-{0,1,2}.log", "Ctrl-C stops the services, then both clusters."} {
		if !strings.Contains(msg, want) {
			t.Errorf("no %q in\n%s", want, msg)
		}
	}
}
