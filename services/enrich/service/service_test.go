package service

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type env struct {
	js      njs.JetStream
	stream  string
	subject string
	osURL   string
	prefix  string
	health  string
}

// startEnrich gives the test its own stream, consumer and index prefix on the
// real servers and runs an enrich service over them.
func startEnrich(t *testing.T) *env { return startEnrichWith(t, nil) }

// startEnrichWith is startEnrich with extra settings; "OPENSEARCH_URL" may
// name a proxy (the test's own searches still go to the real node). The
// service runs in-process until the test ends (testenv.Start), then is
// stopped and waited for before the test's stream and indices are deleted;
// an error from its Run fails the test.
func startEnrichWith(t *testing.T, extra map[string]string) *env {
	t.Helper()
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "enrich")
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	subjectPrefix := strings.ReplaceAll(name, "-", "_") + ".events"
	js := createStream(t, natsURL, stream, subjectPrefix)
	vars := map[string]string{
		"ENRICH_HTTP_ADDR":      "127.0.0.1:0",
		"NATS_URL":              natsURL,
		"OPENSEARCH_URL":        osURL,
		"EVENTS_STREAM":         stream,
		"EVENTS_SUBJECT_PREFIX": subjectPrefix,
		"EVENTS_INDEX_PREFIX":   name,
		"ENRICH_FLUSH_INTERVAL": "100ms",
		"ENRICH_RETENTION":      "0",
	}
	maps.Copy(vars, extra)
	cfg, err := LoadConfig(config.MapLookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteIndexData(t, osURL, name)
	svc, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), otelx.ForTest(noop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "enrich", svc.Run)
	return &env{js: js, stream: stream, subject: subjectPrefix + ".app-test", osURL: osURL, prefix: name, health: "http://" + svc.Addr()}
}

// createStream makes a stream of the test's own on the NATS at natsURL,
// deleted when the test ends.
func createStream(t *testing.T, natsURL, stream, subjectPrefix string) njs.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := njs.New(nc)
	if _, err := js.CreateStream(context.Background(), njs.StreamConfig{Name: stream, Subjects: []string{subjectPrefix + ".>"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	return js
}

func (e *env) publish(t *testing.T, batch *telemetryv1.EventBatch, msgID string) {
	t.Helper()
	data, err := proto.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(context.Background(), e.subject, data, njs.WithMsgID(msgID)); err != nil {
		t.Fatal(err)
	}
}

// docs returns every document under the test's prefix, after a refresh.
func (e *env) docs(t *testing.T) []map[string]any { return e.search(t, e.prefix+"-*") }

// search returns every document of the indices matching pattern, after a
// refresh; OpenSearch failing to answer fails the test.
func (e *env) search(t *testing.T, pattern string) []map[string]any {
	t.Helper()
	docs, err := e.query(t, pattern)
	if err != nil {
		t.Fatalf("search %s: %v", pattern, err)
	}
	return docs
}

// query returns every document of the indices matching pattern, after a
// refresh, or OpenSearch's error (testenv.Sources): while it polls, a test
// takes an error for "not yet".
func (e *env) query(t *testing.T, pattern string) ([]map[string]any, error) {
	t.Helper()
	return testenv.Sources(t, e.osURL, pattern, "")
}

// waitDocs waits until the test's indices hold at least n documents, and
// returns them.
func (e *env) waitDocs(t *testing.T, n int) []map[string]any {
	t.Helper()
	var docs []map[string]any
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("at least %d documents under %s", n, e.prefix), func() bool {
		var err error
		docs, err = e.query(t, e.prefix+"-*")
		return err == nil && len(docs) >= n
	})
	return docs
}

// waitDrained waits until enrich has acknowledged everything published so
// far: then nothing more will be indexed.
func (e *env) waitDrained(t *testing.T) {
	t.Helper()
	testenv.WaitDrained(t, e.js, e.stream, "enrich", 20*time.Second)
}

func batchOf(n int, day time.Time) *telemetryv1.EventBatch {
	b := &telemetryv1.EventBatch{BatchId: fmt.Sprintf("b-%d", n), AppId: "app-test", ReceivedAt: timestamppb.New(day.Add(time.Minute))}
	for i := 0; i < n; i++ {
		b.Events = append(b.Events, &telemetryv1.Event{
			EventId: fmt.Sprintf("e%d", i), UserId: "u1", EventName: "tap",
			ClientTimestamp: timestamppb.New(day.Add(time.Duration(i) * time.Second)),
			Metadata:        map[string]string{"screen": "home"}, Message: "hello world",
		})
	}
	return b
}

func TestIndexesBatchIntoDailyIndex(t *testing.T) {
	t.Parallel()
	e := startEnrich(t)
	day := time.Date(2026, 11, 26, 23, 59, 58, 0, time.UTC)
	e.publish(t, batchOf(3, day), "m1") // e2 falls on the next day
	docs := e.waitDocs(t, 3)
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	byEvent := map[string]map[string]any{}
	for _, d := range docs {
		byEvent[d["event_id"].(string)] = d
	}
	for id, wantIndex := range map[string]string{"e0": "2026.11.26", "e1": "2026.11.26", "e2": "2026.11.27"} {
		d := byEvent[id]
		if d == nil || d["_index"] != e.prefix+"-"+wantIndex || d["app_id"] != "app-test" || d["user_id"] != "u1" ||
			d["_id"] != d["doc_id"] || d["ingested_at"] == nil || d["received_at"] == nil {
			t.Errorf("%s: %v", id, d)
		}
	}
}

func TestRedeliveredBatchIsIndexedOnce(t *testing.T) {
	t.Parallel()
	e := startEnrich(t)
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	e.publish(t, batchOf(5, day), "first")
	if docs := e.waitDocs(t, 5); len(docs) != 5 {
		t.Fatalf("%d documents, want 5", len(docs))
	}
	// The same batch again under another message id: JetStream stores it, so
	// enrich sees it as a second delivery of the same events.
	e.publish(t, batchOf(5, day), "second")
	e.publish(t, batchOf(6, day), "third") // one new event rides behind it
	// Enrich acks a message once its documents are written: with nothing
	// pending or unacknowledged, nothing more will be indexed.
	e.waitDrained(t)
	docs := e.docs(t)
	perEvent := map[string]int{}
	for _, d := range docs {
		perEvent[d["event_id"].(string)]++
	}
	if len(docs) != 6 || len(perEvent) != 6 {
		t.Fatalf("%d documents of %d distinct events after redelivery, want 6 of 6 (one per event): %v", len(docs), len(perEvent), perEvent)
	}
	// The redelivery reached enrich: the second message's five events were
	// found already written, and the third message's first five too.
	if m := grep(metricsBody(t, e), `enrich_documents_total{outcome="already_present"} `); !strings.HasSuffix(m, " 10") {
		t.Errorf("already_present documents: %q, want 10 (the second delivery was not tested)", m)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	e := startEnrich(t)
	code, b := testenv.Get(t, e.health+"/readyz")
	if code != 200 || !strings.Contains(string(b), `"nats":"ok"`) || !strings.Contains(string(b), `"opensearch":"ok"`) {
		t.Fatalf("readyz %d %s", code, b)
	}
}
