package deadletter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/deadletter"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// slowStore is the real store (OpenSearch) whose calls each take a set
// time of a fake clock, noting when each write began and whether the
// replay's suppression lease covered it then.
type slowStore struct {
	deadletter.Store
	advance func(time.Duration)
	took    map[string]time.Duration // by call: Locate, Write, Settle
	began   func() string
	writes  []string
}

func (s *slowStore) Locate(ctx context.Context, pattern string, ids []string) (map[string]string, error) {
	s.advance(s.took["Locate"])
	return s.Store.Locate(ctx, pattern, ids)
}

func (s *slowStore) Write(ctx context.Context, docs []document.Doc) ([]deadletter.Written, error) {
	s.writes = append(s.writes, "Write "+s.began())
	s.advance(s.took["Write"])
	return s.Store.Write(ctx, docs)
}

func (s *slowStore) Settle(ctx context.Context, replayed, refused []deadletter.Letter) error {
	s.writes = append(s.writes, "Settle "+s.began())
	s.advance(s.took["Settle"])
	return s.Store.Settle(ctx, replayed, refused)
}

// TestNoReplayWriteOutsideTheSuppressionLease: the dead-letter replay takes
// part in the deletions' handshake like an enrich instance, so it must
// start no write — writing letters back as events, or settling them (which
// writes a refused letter, document and all, over its old one) — that its
// last published lease does not cover: once the lease has run out, a
// deletion may count and delete the person's documents without waiting for
// it. A page's look-up and write may each take up to a request timeout, so
// the lease is asked before each write, not once a page. Before, it was
// asked only before the page: the replay wrote past its lease's end.
func TestNoReplayWriteOutsideTheSuppressionLease(t *testing.T) {
	t.Parallel()
	const (
		lease       = 10 * time.Second
		bulkTimeout = 2 * time.Second // each request's bound; WriteBound is twice it
	)
	for _, tc := range []struct {
		name string
		took map[string]time.Duration
		// what the replay must have done when the lease no longer covers
		// the next write: written back (the events are in), settled
		// (the letters are gone)
		written bool
	}{
		{"the write after a slow look-up", map[string]time.Duration{"Locate": lease - bulkTimeout}, false},
		{"the settling after a slow write", map[string]time.Duration{"Locate": bulkTimeout, "Write": lease - 3*bulkTimeout}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			osURL, prefix, c, b := suppressedReplay(t, "dll")
			ctx := context.Background()
			start := time.Now().UTC()
			clock := start
			// Published once, when it registers; never again (Run is not
			// called): its status cannot be written any more.
			set, stop, err := suppression.Watch(ctx, b, suppression.SetConfig{Heartbeat: time.Second, Lease: lease,
				WriteBound: 2 * bulkTimeout, Now: func() time.Time { return clock }}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { stop(context.Background()) })

			day := eventdoc.IndexName(prefix, start)
			var letters []eventdoc.DeadLetter
			for i := range 3 {
				id := fmt.Sprintf("doc-%d", i)
				letters = append(letters, eventdoc.DeadLetter{DocID: id, AppID: "shop", Index: day, Status: 400, ErrorType: "mapper_parsing_exception",
					FailedAt: start, Document: json.RawMessage(`{"doc_id":"` + id + `","app_id":"shop","event_id":"` + id +
						`","user_id":"someone","event_name":"tap","timestamp":"` + start.Format(time.RFC3339) + `"}`)})
			}
			if err := bulk.NewIndexer(c).DeadLetter(ctx, eventdoc.DeadLetterIndex(prefix, start), letters); err != nil {
				t.Fatal(err)
			}
			testenv.Refresh(t, osURL, eventdoc.DeadLetterPattern(prefix))

			store := &slowStore{Store: bulk.NewDeadLetters(c), took: tc.took, advance: func(d time.Duration) { clock = clock.Add(d) },
				began: func() string { return fmt.Sprintf("+%s covered=%v", clock.Sub(start), set.MayWrite()) }}
			r := deadletter.New(store, prefix, 30*24*time.Hour)
			r.Suppress(set, 30*time.Second) // a real bound; the lease runs on the fake clock
			rep, err := r.Replay(ctx, deadletter.Filter{}, false)

			for _, w := range store.writes {
				if !strings.HasSuffix(w, "covered=true") {
					t.Fatalf("%s (lease of %s published at +0s, each request up to %s): begun without the lease covering it; writes %v, report %+v, error %v",
						w, lease, bulkTimeout, store.writes, rep, err)
				}
			}
			if set.MayWrite() {
				t.Fatalf("the replay ended at +%s, with the lease still covering a write: the fault did not strike", clock.Sub(start))
			}
			if err == nil {
				t.Fatalf("replay %+v without an error, though it stopped short; writes %v", rep, store.writes)
			}
			events := testenv.Count(t, osURL, prefix+"-*")
			kept := testenv.Count(t, osURL, eventdoc.DeadLetterPattern(prefix))
			if wantEvents := map[bool]int{true: 3, false: 0}[tc.written]; events != wantEvents || kept != 3 {
				t.Fatalf("after the replay stopped: %d events written, %d letters kept; want %d and every letter kept for the next run",
					events, kept, wantEvents)
			}
		})
	}
}
