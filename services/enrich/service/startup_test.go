package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestStartsBeforeTheBroker: enrich started while no broker listens waits
// for it instead of exiting, and once the broker and the stream are up
// indexes what is published.
func TestStartsBeforeTheBroker(t *testing.T) {
	t.Parallel()
	osURL := testenv.OpenSearchURL(t)
	bin, err := procs.NATSServerBin(testenv.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	name := testenv.Name(t, "enrich")
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	subjectPrefix := strings.ReplaceAll(name, "-", "_") + ".events"
	cfg, err := LoadConfig(config.MapLookup(map[string]string{
		"ENRICH_HTTP_ADDR": "127.0.0.1:0", "NATS_URL": "nats://" + addr, "OPENSEARCH_URL": osURL,
		"EVENTS_STREAM": stream, "EVENTS_SUBJECT_PREFIX": subjectPrefix, "EVENTS_INDEX_PREFIX": name,
		"ENRICH_FLUSH_INTERVAL": "100ms", "ENRICH_RETENTION": "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteIndexData(t, osURL, name)
	var logs testenv.Logs
	type started struct {
		svc *Service
		err error
	}
	done := make(chan started, 1)
	go func() {
		svc, err := New(t.Context(), cfg, logs.Logger(), otelx.ForTest(noop.NewTracerProvider()))
		done <- started{svc, err}
	}()
	testenv.EventuallyState(t, 15*time.Second, "enrich retrying with no broker", func() (bool, string) {
		return strings.Count(logs.String(), "failed; retrying") >= 2, logs.String()
	})
	select {
	case s := <-done:
		t.Fatalf("New returned without a broker: %v", s.err)
	default:
	}

	if _, err := procs.StartNATS(context.Background(), testenv.Starter(t), procs.NATSConfig{Bin: bin, Dir: t.TempDir(), Addr: addr}); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := njs.New(nc)
	if _, err := js.CreateStream(context.Background(), njs.StreamConfig{Name: stream, Subjects: []string{subjectPrefix + ".>"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	var s started
	select {
	case s = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("enrich did not start within 30 s of the broker; logs:\n%s", logs.String())
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	testenv.Start(t, "enrich", s.svc.Run)
	e := &env{js: js, stream: stream, subject: subjectPrefix + ".app-test", osURL: osURL, prefix: name}
	e.publish(t, batchOf(3, time.Now().UTC().Truncate(time.Hour)), "after-the-broker")
	e.waitDocs(t, 3)
}
