package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	njs "github.com/nats-io/nats.go/jetstream"
)

// process runs one fetched batch of msgs through p, as a worker does.
func processAll(ctx context.Context, p *Pipeline, msgs ...*fakeMsg) {
	batch := make([]njs.Msg, len(msgs))
	for i, m := range msgs {
		batch[i] = m
	}
	p.process(ctx, batch)
}

// outcomes says how each message was settled.
func outcomes(msgs []*fakeMsg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.outcome()
	}
	return out
}

// events makes n events of message bytes each, named prefix0, prefix1, ...
func events(prefix string, n, message int) []ev {
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{id: fmt.Sprintf("%s%d", prefix, i), message: message}
	}
	return out
}

// TestChunking: the documents of a fetched batch are sent in bulk requests
// of at most BulkMaxDocs documents and BulkMaxBytes bytes (a document
// larger than that goes alone), across messages; documents looked up
// first go in requests of their own; a request refused as too large is
// sent again as two halves, and a single document refused so fails its
// own message only. Each document is sent once, and each message settled.
func TestChunking(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxDocs  int
		maxBytes int
		msgs     [][]ev
		tooLarge []string
		want     []int    // documents per request, in order
		settled  []string // each message
	}{
		{name: "by count", maxDocs: 3, maxBytes: 1 << 20, msgs: [][]ev{events("e", 7, 10)},
			want: []int{3, 3, 1}, settled: []string{"ack"}},
		{name: "by count, across messages", maxDocs: 5, maxBytes: 1 << 20, msgs: [][]ev{events("a", 4, 10), events("b", 3, 10)},
			want: []int{5, 2}, settled: []string{"ack", "ack"}},
		{name: "by bytes", maxDocs: 100, maxBytes: 3200, msgs: [][]ev{events("e", 5, 1000)}, // ~1.4 KB each
			want: []int{2, 2, 1}, settled: []string{"ack"}},
		{name: "a document over the byte bound goes alone", maxDocs: 100, maxBytes: 2500,
			msgs: [][]ev{{{id: "small", message: 10}, {id: "huge", message: 5000}, {id: "small2", message: 10}}},
			want: []int{1, 1, 1}, settled: []string{"ack"}},
		{name: "looked-up documents in requests of their own", maxDocs: 100, maxBytes: 1 << 20,
			msgs: [][]ev{{{id: "plain1"}, {id: "late1", lookup: true}, {id: "plain2"}, {id: "late2", lookup: true}}},
			want: []int{2, 2}, settled: []string{"ack"}},
		{name: "too large: split in halves until it passes", maxDocs: 100, maxBytes: 1 << 20,
			msgs: [][]ev{events("a", 3, 10), {{id: "poison"}}}, tooLarge: []string{"poison"},
			// [a0 a1 a2 poison] → [a0 a1] + [a2 poison] → [a2] + [poison]
			want: []int{4, 2, 2, 1, 1}, settled: []string{"ack", "nak 100ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idx := &scriptedIndexer{tooLarge: map[string]bool{}}
			for _, e := range tt.tooLarge {
				idx.tooLarge[e] = true
			}
			cfg := testConfig()
			cfg.BulkMaxDocs, cfg.BulkMaxBytes = tt.maxDocs, tt.maxBytes
			var msgs []*fakeMsg
			for _, evs := range tt.msgs {
				msgs = append(msgs, batchMsg(t, 1, evs...))
			}
			processAll(context.Background(), newTestPipeline(idx, cfg), msgs...)
			if got := idx.requestSizes(); !slices.Equal(got, tt.want) {
				t.Errorf("requests of %v documents, want %v", got, tt.want)
			}
			for i, r := range idx.requests {
				size, lookups := 0, 0
				for _, d := range r {
					size += len(d.Body) + len(d.ID) + len(d.Index) + 40
					if d.Lookup {
						lookups++
					}
				}
				if len(r) > 1 && (len(r) > tt.maxDocs || size > tt.maxBytes) {
					t.Errorf("request %d: %d documents, %d bytes; bounds %d and %d", i, len(r), size, tt.maxDocs, tt.maxBytes)
				}
				if lookups != 0 && lookups != len(r) {
					t.Errorf("request %d mixes %d looked-up documents with %d others", i, lookups, len(r)-lookups)
				}
			}
			for e, n := range idx.sends {
				if n != 1 {
					t.Errorf("%s answered %d times, want once", e, n)
				}
			}
			if got := outcomes(msgs); !slices.Equal(got, tt.settled) {
				t.Errorf("messages settled %v, want %v", got, tt.settled)
			}
		})
	}
}

// TestAckDecisions: a message is acked only when every one of its
// documents is settled (created, already there, or dead-lettered); while
// the cluster cannot take some it is kept and marked in progress (no
// delivery spent); a failure of its own redelivers it after a delay that
// doubles per delivery; on delivery MaxDeliver its failed documents not
// found written are dead-lettered and it is acked; when the service stops
// while the cluster refuses, it is released at once.
func TestAckDecisions(t *testing.T) {
	t.Parallel()
	status := func(code int) error {
		return fmt.Errorf("bulk of 2 documents: %w", &RequestError{Status: code, Body: fmt.Sprintf(`{"status":%d}`, code)})
	}
	two := []ev{{id: "e1"}, {id: "e2"}}
	tests := []struct {
		name           string
		delivered      []int // of each message (each carries e1 and e2, unless msgs says otherwise)
		msgs           [][]ev
		idx            scriptedIndexer
		stopping       bool // the service stops before the batch is done
		want           []string
		wantLetters    []string // events dead-lettered
		wantReason     string   // in every letter's reason
		wantInProgress int      // signals sent for the first message
	}{
		{name: "every document created", want: []string{"ack"}},
		{name: "already there (a redelivery)", idx: scriptedIndexer{answers: map[string][]Outcome{"e1": {Exists}, "e2": {Exists}}},
			want: []string{"ack"}},
		{name: "refused for its content: dead-lettered at once", idx: scriptedIndexer{answers: map[string][]Outcome{"e2": {Rejected}}},
			want: []string{"ack"}, wantLetters: []string{"e2"}, wantReason: "rejected_exception"},
		{name: "a failure of its own: redelivered after RetryDelay", idx: scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}},
			want: []string{"nak 100ms"}},
		{name: "a failure of its own on delivery 3: the delay doubled twice", delivered: []int{3},
			idx: scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}}, want: []string{"nak 400ms"}},
		{name: "a failure of its own on delivery 4: 800ms", delivered: []int{4},
			idx: scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}}, want: []string{"nak 800ms"}},
		{name: "a failure on the last delivery: dead-lettered, acked", delivered: []int{5},
			idx:  scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}},
			want: []string{"ack"}, wantLetters: []string{"e2"}, wantReason: "given up on delivery 5 of 5"},
		{name: "a failure on the last delivery, found written meanwhile: acked without a letter", delivered: []int{5},
			idx:  scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}, written: []string{"e2"}},
			want: []string{"ack"}},
		{name: "a failure on the last delivery, the dead-letter write fails: redelivered after MaxRetryDelay (not 1.6s)", delivered: []int{5},
			idx:  scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}, deadLetterErrs: []error{errScripted}},
			want: []string{"nak 1s"}},
		{name: "the cluster refuses twice: kept and marked in progress, then acked",
			idx:  scriptedIndexer{answers: map[string][]Outcome{"e1": {Unavailable, Unavailable, Created}}},
			want: []string{"ack"}, wantInProgress: 2},
		{name: "the whole request 503: kept, then acked", idx: scriptedIndexer{requestErrs: []error{status(503)}},
			want: []string{"ack"}, wantInProgress: 1},
		{name: "the whole request 400 (unreadable): redelivered", idx: scriptedIndexer{requestErrs: []error{status(400)}},
			want: []string{"nak 100ms"}},
		{name: "a 500 while the cluster answers: redelivered", idx: scriptedIndexer{requestErrs: []error{status(500)}},
			want: []string{"nak 100ms"}},
		{name: "a 500 while the cluster does not answer: kept, then acked",
			idx:  scriptedIndexer{requestErrs: []error{status(500)}, pingErr: errScripted},
			want: []string{"ack"}, wantInProgress: 1},
		{name: "no answer at all: kept, then acked", idx: scriptedIndexer{requestErrs: []error{errScripted}},
			want: []string{"ack"}, wantInProgress: 1},
		{name: "refused, the dead-letter write fails once: kept, then dead-lettered and acked",
			idx:  scriptedIndexer{answers: map[string][]Outcome{"e2": {Rejected}}, deadLetterErrs: []error{errScripted}},
			want: []string{"ack"}, wantLetters: []string{"e2"}, wantInProgress: 1},
		{name: "one message's failure does not hold another's ack", delivered: []int{1, 1},
			msgs: [][]ev{{{id: "e1"}}, {{id: "e2"}}}, idx: scriptedIndexer{answers: map[string][]Outcome{"e2": {Failed}}},
			want: []string{"ack", "nak 100ms"}},
		{name: "stopping while the cluster refuses: released at once",
			idx: scriptedIndexer{answers: map[string][]Outcome{"e1": {Unavailable}}}, stopping: true, want: []string{"nak"}},
		{name: "a message without events: acked", msgs: [][]ev{{}}, want: []string{"ack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idx := tt.idx
			msgEvents := tt.msgs
			if msgEvents == nil {
				msgEvents = [][]ev{two}
			}
			var msgs []*fakeMsg
			for i, evs := range msgEvents {
				delivered := 1
				if i < len(tt.delivered) {
					delivered = tt.delivered[i]
				}
				msgs = append(msgs, batchMsg(t, delivered, evs...))
			}
			ctx := context.Background()
			if tt.stopping {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			processAll(ctx, newTestPipeline(&idx, testConfig()), msgs...)
			if got := outcomes(msgs); !slices.Equal(got, tt.want) {
				t.Errorf("messages settled %v, want %v", got, tt.want)
			}
			if got := idx.letterEvents(); !slices.Equal(got, tt.wantLetters) {
				t.Errorf("dead-lettered %v, want %v", got, tt.wantLetters)
			}
			for _, l := range idx.letters {
				if !strings.Contains(l.ErrorReason, tt.wantReason) || l.Deliveries != int(max(msgs[0].delivered, 1)) ||
					l.StreamSequence != 7 || l.Index == "" || len(l.Document) == 0 {
					t.Errorf("dead letter %+v: want the reason to say %q, the delivery, the stream sequence and the document", l, tt.wantReason)
				}
			}
			if got := msgs[0].inProgress; got != tt.wantInProgress {
				t.Errorf("%d in-progress signals, want %d", got, tt.wantInProgress)
			}
		})
	}
}

// TestUndecodableMessageIsTerminated: no retry can make it decodable; the
// messages fetched with it are processed as usual.
func TestUndecodableMessageIsTerminated(t *testing.T) {
	t.Parallel()
	idx := &scriptedIndexer{}
	bad, good := &fakeMsg{data: []byte{0xff, 0xff, 0xff}}, batchMsg(t, 1, ev{id: "e1"})
	processAll(context.Background(), newTestPipeline(idx, testConfig()), bad, good)
	if got := outcomes([]*fakeMsg{bad, good}); !slices.Equal(got, []string{"term", "ack"}) {
		t.Fatalf("settled %v, want [term ack]", got)
	}
	if got := idx.requestSizes(); !slices.Equal(got, []int{1}) {
		t.Fatalf("requests %v, want one of the good message's document", got)
	}
}
