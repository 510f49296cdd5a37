package service

import (
	"context"
	"strings"
	"testing"
	"time"

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
	starting := testenv.Background(func() (*Service, error) {
		return New(t.Context(), cfg, logs.Logger(), otelx.ForTest(noop.NewTracerProvider()))
	})
	testenv.EventuallyState(t, 15*time.Second, "enrich retrying with no broker", func() (bool, string) {
		return strings.Count(logs.String(), "failed; retrying") >= 2 || starting.Returned(), logs.String()
	})
	if starting.Returned() {
		t.Fatalf("New returned without a broker; logs:\n%s", logs.String())
	}

	if _, err := procs.StartNATS(context.Background(), testenv.Starter(t), procs.NATSConfig{Bin: bin, Dir: t.TempDir(), Addr: addr}); err != nil {
		t.Fatal(err)
	}
	js := createStream(t, "nats://"+addr, stream, subjectPrefix)
	svc := starting.Wait(t, 30*time.Second)
	testenv.Start(t, "enrich", svc.Run)
	e := &env{js: js, stream: stream, subject: subjectPrefix + ".app-test", osURL: osURL, prefix: name}
	e.publish(t, batchOf(3, time.Now().UTC().Truncate(time.Hour)), "after-the-broker")
	e.waitDocs(t, 3)
}
