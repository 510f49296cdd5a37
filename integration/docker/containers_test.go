package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/testenv"
)

const (
	// version is stamped into the test images. Fixed, so that a run with
	// unchanged sources reuses the previous run's build.
	version = "docker-test"
	// maxImageBytes is the size every image must stay under: a static
	// binary and nothing else (the largest, query, is about 25.6 MB since it
	// also speaks NATS for the deletions' suppression list).
	maxImageBytes = 30_000_000
	writeKey      = "docker-write-key-0123456789"
	readToken     = "docker-read-token-0123456789"
	appID         = "app-docker"
	pageTokenKey  = "646f636b65722d706167652d746f6b656e2d6b65792d30313233343536373839"
)

// targets are the images built here, in the Dockerfile's order; the
// Dashboards import waits for its command (issue 15).
var targets = []string{"ingest", "enrich", "query", "deadletters"}

func image(target string) string { return "evtrack/" + target + ":" + version }

// TestContainers builds the images on a private Docker engine and runs the
// three services from them, with the host's network, against the real NATS
// and OpenSearch: a batch posted to the containerised ingest is read back
// through the containerised query, and SIGTERM drains each service to a
// clean exit. `make test-docker` runs it (and prints the image sizes).
func TestContainers(t *testing.T) {
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t) // skipped under -short
	root := testenv.Root(t)
	df := readDockerfile(t, root)
	d := startDaemon(t, root)
	start := time.Now()
	d.ensureGoImage(t, df.baseImage())
	// The build stage is tagged too: its layers are the next run's cache
	// (untagged, they would be pruned).
	for _, target := range append([]string{"build"}, targets...) {
		d.must(t, "build", "-q", "--network", "host", "--target", target, "--build-arg", "VERSION="+version, "-t", image(target), root)
	}
	t.Logf("images built in %s", time.Since(start).Round(time.Second))

	t.Run("images: small, static, non-root, no shell, version stamped", func(t *testing.T) {
		for _, target := range targets {
			var img struct {
				Size   int64
				Config struct {
					User, StopSignal string
					Entrypoint       []string
					Healthcheck      *struct{ Test []string }
				}
			}
			if err := json.Unmarshal([]byte(d.must(t, "image", "inspect", "--format", "{{json .}}", image(target))), &img); err != nil {
				t.Fatal(err)
			}
			t.Logf("image %-28s %5.1f MB", image(target), float64(img.Size)/1e6)
			if img.Size >= maxImageBytes {
				t.Errorf("%s: %d bytes, want under %d", target, img.Size, maxImageBytes)
			}
			if img.Config.User != "65532:65532" || img.Config.StopSignal != "SIGTERM" {
				t.Errorf("%s: user %q, stop signal %q; want 65532:65532 and SIGTERM", target, img.Config.User, img.Config.StopSignal)
			}
			want := df.stage(target).healthcheck(t)
			if want[0] != "NONE" {
				want = append([]string{"CMD"}, want...)
			}
			if img.Config.Healthcheck == nil || !slices.Equal(img.Config.Healthcheck.Test, want) {
				t.Errorf("%s: health check %+v, want %v", target, img.Config.Healthcheck, want)
			}
			arg := "version"
			if !goServices[target].Server {
				arg = "-version"
			}
			if got := d.must(t, "run", "--rm", "--network", "none", image(target), arg); got != version {
				t.Errorf("%s %s: %q, want the stamped %q", target, arg, got, version)
			}
			if out, err := d.run("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image(target), "-c", "true"); err == nil {
				t.Errorf("%s: has a shell: %s", target, out)
			}
		}
	})

	t.Run("reproducible: the image's binaries are the bytes a host build makes", func(t *testing.T) {
		goVersion, _, _ := strings.Cut(strings.TrimPrefix(df.baseImage(), "golang:"), "-")
		out := t.TempDir()
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -X main.version="+version, "-o", out+"/",
			"./services/ingest/cmd/ingest", "./services/enrich/cmd/enrich", "./services/enrich/cmd/deadletters", "./services/query/cmd/query")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=go"+goVersion)
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("host build with Go %s: %v\n%s", goVersion, err, b)
		}
		for _, target := range targets {
			id := d.must(t, "create", image(target))
			d.must(t, "cp", id+":/"+target, filepath.Join(out, target+".image"))
			d.must(t, "rm", id)
			if a, b := fileSum(t, filepath.Join(out, target)), fileSum(t, filepath.Join(out, target+".image")); a != b {
				t.Errorf("%s: image binary %x, host build %x", target, b, a)
			}
		}
	})

	// The pipeline, on names of its own.
	name := testenv.Name(t, "docker")
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	testenv.DeleteIndexData(t, osURL, name)
	t.Cleanup(func() { deleteStream(natsURL, stream) })
	traces := otlpReceiver(t)
	addr := func() string { return "127.0.0.1:" + freePort(t) }
	ingestHTTP, enrichHTTP, queryHTTP := addr(), addr(), addr()
	env := map[string]string{
		"NATS_URL": natsURL, "OPENSEARCH_URL": osURL, "OTEL_EXPORTER_OTLP_ENDPOINT": traces.url,
		"EVENTS_STREAM": stream, "EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX": name,
		"INGEST_HTTP_ADDR":    ingestHTTP, "INGEST_GRPC_ADDR": addr(), "INGEST_WRITE_KEYS": writeKey + ":" + appID,
		"ENRICH_HTTP_ADDR": enrichHTTP, "ENRICH_FLUSH_INTERVAL": "100ms",
		"QUERY_HTTP_ADDR": queryHTTP, "QUERY_GRPC_ADDR": addr(), "QUERY_TOKENS": readToken + ":" + appID,
		"QUERY_PAGE_TOKEN_KEY": pageTokenKey,
	}
	services := []string{"ingest", "enrich", "query"}
	containers := map[string]string{}
	for _, svc := range services {
		containers[svc] = d.runService(t, name+"-"+svc, svc, env)
	}

	t.Run("healthy by their own health checks", func(t *testing.T) {
		for _, svc := range services {
			d.waitHealthy(t, containers[svc])
		}
	})

	t.Run("a batch posted to ingest is read back through query", func(t *testing.T) {
		const n = 20
		user := name + "-user"
		var batch []map[string]any
		now := time.Now().UTC()
		want := make([]string, n)
		for i := range n {
			want[i] = fmt.Sprintf("%s-%02d", name, i)
			batch = append(batch, map[string]any{"event_id": want[i], "user_id": user, "session_id": "s-1", "event_name": "app_open",
				"client_timestamp": now.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano), "message": "from a container"})
		}
		body, _ := json.Marshal(batch)
		status, answer := call(t, http.MethodPost, "http://"+ingestHTTP+"/v1/track", writeKey, body)
		if status != http.StatusAccepted || !strings.Contains(answer, fmt.Sprintf(`"accepted":%d`, n)) {
			t.Fatalf("track: %d %s", status, answer)
		}
		var got []string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			status, answer = call(t, http.MethodGet, "http://"+queryHTTP+"/v1/users/"+user+"/events", readToken, nil)
			var page struct {
				Events []struct {
					EventID string `json:"event_id"`
				} `json:"events"`
			}
			if status != http.StatusOK || json.Unmarshal([]byte(answer), &page) != nil {
				continue
			}
			got = got[:0]
			for _, e := range page.Events {
				got = append(got, e.EventID)
			}
			sort.Strings(got)
			if got = slices.Compact(got); len(got) == n {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query returned %d distinct events %v, want the %d posted (last answer %d %s)", len(got), got, n, status, answer)
		}
	})

	t.Run("SIGTERM drains each service to exit 0", func(t *testing.T) {
		for _, svc := range services { // the front door first
			c := containers[svc]
			d.must(t, "stop", "-t", "60", c)
			var state struct {
				ExitCode  int
				OOMKilled bool
			}
			_ = json.Unmarshal([]byte(d.must(t, "inspect", "--format", "{{json .State}}", c)), &state)
			logs, _ := d.logs(c)
			if state.ExitCode != 0 || !strings.Contains(logs, `"msg":"`+svc+` stopped"`) {
				t.Errorf("%s: exit code %d (OOM killed %v), want 0 after the %q log line:\n%s", svc, state.ExitCode, state.OOMKilled, svc+" stopped", lastLines(logs, 20))
			}
		}
	})

	t.Run("every service exported traces to OTEL_EXPORTER_OTLP_ENDPOINT", func(t *testing.T) {
		if got := traces.services(); !slices.Equal(got, []string{"enrich", "ingest", "query"}) {
			t.Errorf("spans received from %v, want enrich, ingest and query", got)
		}
	})
}

// runService starts the image of svc as container name on the host's
// network, with the variables of env that svc reads, the same hardening as
// docker-compose.yml, and its health checked every second. The container
// is removed when the test ends.
func (d *daemon) runService(t *testing.T, name, svc string, env map[string]string) string {
	t.Helper()
	args := []string{"run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges:true", "--health-interval", "1s"}
	for _, k := range goServices[svc].Variables(config.MapLookup(env)) {
		if v, ok := env[k]; ok {
			args = append(args, "-e", k+"="+v)
		}
	}
	d.must(t, append(args, image(svc))...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := d.logs(name)
			t.Logf("%s logs:\n%s", name, lastLines(logs, 30))
		}
		_, _ = d.run("rm", "-f", name)
	})
	return name
}

// waitHealthy waits until Docker reports the container healthy.
func (d *daemon) waitHealthy(t *testing.T, c string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		status := d.must(t, "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", c)
		switch {
		case status == "running healthy":
			return
		case !strings.HasPrefix(status, "running") || strings.HasSuffix(status, "unhealthy") || time.Now().After(deadline):
			health, _ := d.run("inspect", "--format", "{{json .State.Health.Log}}", c)
			logs, _ := d.logs(c)
			t.Fatalf("%s: %s; health checks %s\n%s", c, status, health, lastLines(logs, 20))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// logs returns the container's standard output and error.
func (d *daemon) logs(c string) (string, error) {
	cmd := exec.Command("docker", "logs", c)
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// call makes an authenticated JSON request and returns the status and body.
func call(t *testing.T, method, url, token string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	code, b := testenv.Send(t, req)
	return code, string(b)
}

// tracesSeen is an OTLP/HTTP endpoint that records which services sent spans.
type tracesSeen struct {
	url  string
	mu   sync.Mutex
	seen map[string]bool
}

func otlpReceiver(t *testing.T) *tracesSeen {
	t.Helper()
	r := &tracesSeen{seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var export coltracepb.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &export) != nil {
			http.Error(w, "want an OTLP/HTTP protobuf export on /v1/traces", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" && len(rs.ScopeSpans) > 0 {
					r.seen[a.GetValue().GetStringValue()] = true
				}
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *tracesSeen) services() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// freePort returns a loopback port free at the time of the call: the
// containers share the host's network with other tests running.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// deleteStream removes the test's stream (best effort).
func deleteStream(natsURL, stream string) {
	if nc, err := nats.Connect(natsURL); err == nil {
		if js, err := njs.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), stream)
		}
		nc.Close()
	}
}
