package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
)

// The fakes of the pipeline's unit tests: a fetched message that records
// how it was settled, and an Indexer (the port) answering from a script.
// No server is involved.

// fakeMsg is a fetched message that records how it was settled.
type fakeMsg struct {
	njs.Msg
	data       []byte
	delivered  uint64 // this delivery's number (0: the first)
	settled    string // "ack", "nak" or "term"
	delay      time.Duration
	inProgress int
}

func (m *fakeMsg) Data() []byte         { return m.data }
func (m *fakeMsg) Subject() string      { return "events.app" }
func (m *fakeMsg) Headers() nats.Header { return nats.Header{} }
func (m *fakeMsg) Metadata() (*njs.MsgMetadata, error) {
	return &njs.MsgMetadata{NumDelivered: max(m.delivered, 1), Sequence: njs.SequencePair{Stream: 7}}, nil
}
func (m *fakeMsg) Ack() error                         { m.settled = "ack"; return nil }
func (m *fakeMsg) Nak() error                         { m.settled = "nak"; return nil }
func (m *fakeMsg) NakWithDelay(d time.Duration) error { m.settled, m.delay = "nak", d; return nil }
func (m *fakeMsg) InProgress() error                  { m.inProgress++; return nil }
func (m *fakeMsg) Term() error                        { m.settled = "term"; return nil }

// outcome says how the message was settled: "ack", "nak" (released, for
// another instance), "nak 100ms" (redelivered after that delay), "term", or
// "unsettled".
func (m *fakeMsg) outcome() string {
	switch {
	case m.settled == "":
		return "unsettled"
	case m.settled == "nak" && m.delay > 0:
		return "nak " + m.delay.String()
	}
	return m.settled
}

// testApp is the app id of every test batch.
const testApp = "app"

// testReceived is when every test batch was received.
var testReceived = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// ev is an event of a test batch.
type ev struct {
	id      string
	message int  // bytes of its message field (the document grows with it)
	lookup  bool // its time is implausible: looked up before it is written
}

// batchMsg is a message carrying a batch of events, fetched on delivery
// `delivered`.
func batchMsg(t *testing.T, delivered int, events ...ev) *fakeMsg {
	t.Helper()
	b := &telemetryv1.EventBatch{BatchId: "b", AppId: testApp, ReceivedAt: timestamppb.New(testReceived)}
	for _, e := range events {
		ts := testReceived
		if e.lookup {
			ts = time.Unix(0, 0)
		}
		b.Events = append(b.Events, &telemetryv1.Event{EventId: e.id, EventName: "x", ClientTimestamp: timestamppb.New(ts),
			Message: strings.Repeat("m", e.message)})
	}
	data, err := b.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeMsg{data: data, delivered: uint64(delivered)}
}

// testConfig is a pipeline configuration for unit tests: no wait of any
// length while the fake cluster refuses.
func testConfig() Config {
	return Config{IndexPrefix: "p", Workers: 1, FetchBatch: 10, BulkMaxDocs: 100, BulkMaxBytes: 1 << 20, BulkTimeout: time.Second,
		AckWait: 30 * time.Second, RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second, MaxDeliver: 5, MaxBackoff: time.Millisecond}
}

// newTestPipeline returns a pipeline writing through idx, building
// documents without enrichment steps, fetching nothing (process is called
// directly).
func newTestPipeline(idx Indexer, cfg Config) *Pipeline {
	builder := document.NewBuilder(cfg.IndexPrefix, nil, document.Placement{MaxAge: 30 * 24 * time.Hour, MaxFuture: 10 * time.Minute})
	return New(nil, idx, builder, cfg, slog.New(slog.DiscardHandler), metrics.New(prometheus.NewRegistry()),
		noop.NewTracerProvider(), propagation.TraceContext{})
}

// scriptedIndexer is an Indexer answering from a script, keyed by event
// id, and recording what it was asked.
type scriptedIndexer struct {
	// answers: the answer to each send of an event's document, in turn
	// (the last one repeats); an event not listed is created.
	answers map[string][]Outcome
	// requestErrs: the error of each Index call in turn (nil: answer
	// document by document); calls beyond the list answer by document.
	requestErrs []error
	// tooLarge: a request carrying one of these events is refused as too
	// large (413), whatever else it carries.
	tooLarge map[string]bool
	// deadLetterErrs: the error of each DeadLetter call in turn.
	deadLetterErrs []error
	// written: events Locate finds already written.
	written []string
	// pingErr: the cluster's answer to a health check.
	pingErr error

	requests        [][]document.Doc      // every Index call's documents
	sends           map[string]int        // event id → times sent
	letters         []eventdoc.DeadLetter // written by DeadLetter calls that succeeded
	deadLetterCalls int
	locates         int
}

func (s *scriptedIndexer) Index(_ context.Context, docs []document.Doc) ([]ItemResult, error) {
	call := len(s.requests)
	s.requests = append(s.requests, docs)
	if call < len(s.requestErrs) && s.requestErrs[call] != nil {
		return nil, s.requestErrs[call]
	}
	for _, d := range docs {
		if s.tooLarge[d.EventID] {
			return nil, fmt.Errorf("bulk: %w", &RequestError{Status: 413, Body: "<html>413 Request Entity Too Large</html>"})
		}
	}
	if s.sends == nil {
		s.sends = map[string]int{}
	}
	out := make([]ItemResult, len(docs))
	for i, d := range docs {
		n := s.sends[d.EventID]
		s.sends[d.EventID]++
		o := Created
		if script := s.answers[d.EventID]; len(script) > 0 {
			o = script[min(n, len(script)-1)]
		}
		out[i] = ItemResult{Outcome: o, Status: statusOf[o], ErrorType: o.String() + "_exception"}
		if o == Created || o == Exists {
			out[i].ErrorType = ""
		} else {
			out[i].Reason = out[i].ErrorType + ": scripted"
		}
	}
	return out, nil
}

// statusOf is a plausible item status for each outcome.
var statusOf = map[Outcome]int{Created: 201, Exists: 409, Rejected: 400, Unavailable: 429, Failed: 400}

func (s *scriptedIndexer) DeadLetter(_ context.Context, _ string, letters []eventdoc.DeadLetter) error {
	call := s.deadLetterCalls
	s.deadLetterCalls++
	if call < len(s.deadLetterErrs) && s.deadLetterErrs[call] != nil {
		return s.deadLetterErrs[call]
	}
	s.letters = append(s.letters, letters...)
	return nil
}

func (s *scriptedIndexer) Locate(_ context.Context, _ string, refs []LocateRef) (map[string]string, error) {
	s.locates++
	found := map[string]string{}
	for _, r := range refs {
		for _, e := range s.written {
			if eventdoc.ID(testApp, e) == r.ID {
				found[r.ID] = "p-2026.03.10"
			}
		}
	}
	return found, nil
}

func (s *scriptedIndexer) Ping(context.Context) error { return s.pingErr }

// requestSizes is the number of documents of each Index call.
func (s *scriptedIndexer) requestSizes() []int {
	var out []int
	for _, r := range s.requests {
		out = append(out, len(r))
	}
	return out
}

// letterEvents are the event ids dead-lettered, sorted.
func (s *scriptedIndexer) letterEvents() []string {
	var out []string
	for _, l := range s.letters {
		out = append(out, l.EventID)
	}
	slices.Sort(out)
	return out
}

var errScripted = errors.New("scripted failure")
