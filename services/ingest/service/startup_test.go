package service

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestStartsBeforeTheBroker: ingest started while no broker listens waits
// for it (a broker restarting, a cluster electing its leaders) instead of
// exiting, answers nobody meanwhile, and once the broker is up creates the
// stream and accepts batches.
func TestStartsBeforeTheBroker(t *testing.T) {
	t.Parallel()
	addr := testenv.FreeAddr(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(config.MapLookup(testVars(t, "nats://"+addr)))
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Logs
	starting := testenv.Background(func() (*Service, error) {
		return New(t.Context(), cfg, logs.Logger(), otelx.ForTest(noop.NewTracerProvider()))
	})
	testenv.EventuallyState(t, 10*time.Second, "ingest retrying the stream with no broker", func() (bool, string) {
		return strings.Count(logs.String(), "failed; retrying") >= 2 || starting.Returned(), logs.String()
	})
	if starting.Returned() {
		t.Fatalf("New returned without a broker; logs:\n%s", logs.String())
	}

	runNATS(t, port, t.TempDir())
	svc := starting.Wait(t, 30*time.Second)
	testenv.Start(t, "ingest", svc.Run)
	e := &ingestEnv{base: "http://" + svc.Addr()}
	if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(`[` + event("first") + `]`)}); res.status != 202 {
		t.Fatalf("after the broker came: %d %s", res.status, res.raw)
	}
}

// TestStartRefusedConfigurationEndsAtOnce: a stream configuration JetStream
// refuses (here: subjects another stream already takes) is no broker still
// coming up: New returns the refusal at once, for the operator to read,
// instead of retrying it for ever.
func TestStartRefusedConfigurationEndsAtOnce(t *testing.T) {
	t.Parallel()
	vars := testVars(t, testenv.NATSURL(t))
	prefix := vars["EVENTS_SUBJECT_PREFIX"]
	js := testenv.JetStream(t)
	other := vars["EVENTS_STREAM"] + "_OTHER"
	if _, err := js.CreateStream(t.Context(), njs.StreamConfig{Name: other, Subjects: []string{prefix + ".>"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), other) })
	cfg, err := LoadConfig(config.MapLookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.Logs
	starting := testenv.Background(func() (*Service, error) {
		return New(t.Context(), cfg, logs.Logger(), otelx.ForTest(noop.NewTracerProvider()))
	})
	testenv.EventuallyState(t, 10*time.Second, "New returning the refusal", func() (bool, string) {
		return starting.Returned(), logs.String()
	})
	if _, err := starting.Result(); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("New: %v; want the overlapping subjects named", err)
	}
}
