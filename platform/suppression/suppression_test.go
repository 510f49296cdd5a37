package suppression

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/testenv"
)

func TestSubjectKeys(t *testing.T) {
	tests := []struct {
		name string
		a, b Subject
	}{
		{"kind", Subject{"app", KindUserID, "gone"}, Subject{"app", KindAnonymousID, "gone"}},
		{"app", Subject{"app-a", KindUserID, "gone"}, Subject{"app-b", KindUserID, "gone"}},
		{"boundary", Subject{"appx", KindUserID, "gone"}, Subject{"app", KindUserID, "xgone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a.Key() == tt.b.Key() {
				t.Fatalf("%+v and %+v share a key", tt.a, tt.b)
			}
			if strings.Contains(tt.a.Key(), tt.a.ID) {
				t.Fatalf("key %s shows the id", tt.a.Key())
			}
		})
	}
}

// TestHandshake: a new entry is unsettled while an instance holds a batch
// filtered before it, settled once that batch is done, and the entry
// filters events from then on.
func TestHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("needs NATS")
	}
	js := testenv.JetStream(t)
	ctx := t.Context()
	bucket := strings.ToUpper(strings.ReplaceAll(testenv.Name(t, "supp"), "-", "_"))
	t.Cleanup(func() {
		_ = js.DeleteKeyValue(context.Background(), bucket)
		_ = js.DeleteKeyValue(context.Background(), bucket+StatusSuffix)
	})
	b, err := Open(ctx, js, bucket, 1)
	if err != nil {
		t.Fatal(err)
	}
	set, stop, err := Watch(ctx, b, SetConfig{Heartbeat: 50 * time.Millisecond, Lease: 10 * time.Second, WriteBound: time.Second}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { set.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; stop(context.Background()) })

	held := set.Begin() // a batch filtered before the entry
	rev, err := b.Suppress(ctx, []Subject{{"app", KindUserID, "gone"}}, time.Now().Add(time.Hour), "job")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "entry applied", func() bool { return set.Len() == 1 })
	for range 3 { // several heartbeats: still unsettled while the batch is held
		time.Sleep(60 * time.Millisecond)
		if pending, err := b.Unsettled(ctx, rev, time.Now(), 0); err != nil || len(pending) != 1 {
			t.Fatalf("unsettled while a batch filtered before the entry is held: %v %v, want this instance", pending, err)
		}
	}
	if held.Suppressed("app", "gone", "", time.Now()) {
		t.Log("the held batch already sees the entry (allowed: it may see a later list)")
	}
	held.Done()
	testenv.Eventually(t, 10*time.Second, "settled once the batch is done", func() bool {
		pending, err := b.Unsettled(ctx, rev, time.Now(), 0)
		return err == nil && len(pending) == 0
	})
	f := set.Begin()
	defer f.Done()
	if now := time.Now(); !f.Suppressed("app", "gone", "", now) || f.Suppressed("app", "other", "", now) || f.Suppressed("other-app", "gone", "", now) {
		t.Fatal("filter does not match exactly the suppressed app and id")
	}
	if !f.MayWrite() {
		t.Fatal("a fresh lease does not allow writing")
	}
	if n, err := b.DeleteExpired(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("expired entries removed: %d %v, want 1", n, err)
	}
	testenv.Eventually(t, 10*time.Second, "expiry applied", func() bool { return set.Len() == 0 })
}

// TestEntriesStayWhileTheStreamMayHoldWhatTheyDecide: an entry decides
// about every event received before its end, so it is removed only once no
// batch waiting in the events stream can have been received before it
// ended (plus ArrivalMargin), then at once.
func TestEntriesStayWhileTheStreamMayHoldWhatTheyDecide(t *testing.T) {
	if testing.Short() {
		t.Skip("needs NATS")
	}
	js := testenv.JetStream(t)
	ctx := t.Context()
	name := strings.ToUpper(strings.ReplaceAll(testenv.Name(t, "supp-exp"), "-", "_"))
	stream := name + "_EVENTS"
	t.Cleanup(func() {
		_ = js.DeleteKeyValue(context.Background(), name)
		_ = js.DeleteKeyValue(context.Background(), name+StatusSuffix)
		_ = js.DeleteStream(context.Background(), stream)
	})
	s, err := js.CreateStream(ctx, njs.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}, Retention: njs.WorkQueuePolicy, Storage: njs.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, stream+".app", []byte("a batch")); err != nil {
		t.Fatal(err)
	}
	l := NewList(js, name, 1, stream)
	if _, err := l.Suppress(ctx, []Subject{{"app", KindUserID, "gone"}}, time.Now().Add(time.Minute), "job"); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(3 * time.Hour) // the entry long over
	if n, err := l.DeleteExpired(ctx, later); err != nil || n != 0 {
		t.Fatalf("removed %d (%v) while the stream holds a batch received before the entry ended, want none", n, err)
	}
	if err := s.Purge(ctx); err != nil { // enrich handled it
		t.Fatal(err)
	}
	if n, err := l.DeleteExpired(ctx, later); err != nil || n != 1 {
		t.Fatalf("removed %d (%v) once the stream is empty, want the entry", n, err)
	}
	missing := NewList(js, name, 1, name+"_NO_STREAM")
	if _, err := missing.Suppress(ctx, []Subject{{"app", KindUserID, "gone"}}, time.Now(), "job"); err != nil {
		t.Fatal(err)
	}
	if n, err := missing.DeleteExpired(ctx, later); err != nil || n != 1 {
		t.Fatalf("without an events stream: removed %d (%v), want the entry", n, err)
	}
}
