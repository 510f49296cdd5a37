package suppression

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

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
	if held.Suppressed("app", "gone", "") {
		t.Log("the held batch already sees the entry (allowed: it may see a later list)")
	}
	held.Done()
	testenv.Eventually(t, 10*time.Second, "settled once the batch is done", func() bool {
		pending, err := b.Unsettled(ctx, rev, time.Now(), 0)
		return err == nil && len(pending) == 0
	})
	f := set.Begin()
	defer f.Done()
	if !f.Suppressed("app", "gone", "") || f.Suppressed("app", "other", "") || f.Suppressed("other-app", "gone", "") {
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
