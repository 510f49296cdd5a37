package suppression

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
)

// SetConfig tunes an enrich instance's view of the list.
type SetConfig struct {
	// Heartbeat: how often the instance publishes its status.
	Heartbeat time.Duration
	// Lease: how long a published status holds. The instance starts no
	// write later than Lease - WriteBound after its last published status.
	Lease time.Duration
	// WriteBound is the longest a write may take once started (a bulk
	// request and what follows it: its request timeouts); Lease must
	// exceed it. MayWrite is asked before each one.
	WriteBound time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Set is an enrich instance's copy of the suppression list, kept current by
// a watch on the bucket, and its side of the handshake with the query
// service (see the package comment).
type Set struct {
	cfg      SetConfig
	status   njs.KeyValue
	instance string
	log      *slog.Logger
	now      func() time.Time

	mu       sync.RWMutex
	entries  map[string]time.Time // key → until
	applied  uint64
	active   map[uint64]uint64 // batch token → revision it was filtered with
	next     uint64
	lastBeat time.Time // when the last published status was written
}

// Watch registers an instance in the status bucket, loads the whole list
// and keeps it current until ctx ends: call it before fetching anything.
// Run publishes the status; Close removes it.
func Watch(ctx context.Context, b *Buckets, cfg SetConfig, log *slog.Logger) (*Set, func(context.Context), error) {
	if cfg.Lease <= cfg.WriteBound {
		return nil, nil, fmt.Errorf("suppression lease %s must exceed the write bound %s", cfg.Lease, cfg.WriteBound)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Set{cfg: cfg, status: b.status, instance: "enrich-" + hex.EncodeToString(id[:]), log: log, now: cfg.Now,
		entries: map[string]time.Time{}, active: map[uint64]uint64{}}
	if s.now == nil {
		s.now = time.Now
	}
	// Registered (settled 0) before the list is read: a deletion that
	// reads the statuses after this sees the instance and waits for it; one
	// that read them before wrote its entry before this load, which then
	// holds it.
	if err := s.publish(ctx, 0); err != nil {
		return nil, nil, err
	}
	w, err := b.entries.WatchAll(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("watch suppression bucket: %w", err)
	}
	for e := range w.Updates() {
		if e == nil {
			break // the current values are all in
		}
		s.apply(e)
	}
	if err := s.publish(ctx, s.Settled()); err != nil {
		_ = w.Stop()
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e != nil {
				s.apply(e)
			}
		}
	}()
	stop := func(ctx context.Context) {
		_ = w.Stop()
		<-done
		// Stopped: no lease to honour any more.
		_ = s.status.Delete(ctx, s.instance)
	}
	return s, stop, nil
}

func (s *Set) apply(e njs.KeyValueEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = max(s.applied, e.Revision())
	if e.Operation() != njs.KeyValuePut {
		delete(s.entries, e.Key())
		return
	}
	v, err := decodeEntry(e.Value())
	if err != nil {
		s.log.Error("suppression entry cannot be read; ignored", "key", e.Key(), "error", err)
		return
	}
	s.entries[e.Key()] = v.Until
}

// Run publishes the instance's status every Heartbeat until ctx ends.
func (s *Set) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.publish(ctx, s.Settled()); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "suppression status not published; writes pause when the lease runs out", "error", err)
		}
	}
}

func (s *Set) publish(ctx context.Context, settled uint64) error {
	now := s.now()
	v, err := encode(Status{Settled: settled, LeaseUntil: now.Add(s.cfg.Lease).UTC()})
	if err != nil {
		return err
	}
	if _, err := s.status.Put(ctx, s.instance, v); err != nil {
		return fmt.Errorf("publish suppression status: %w", err)
	}
	s.mu.Lock()
	s.lastBeat = now
	s.mu.Unlock()
	return nil
}

// Settled is the lowest revision a batch in hand was filtered with, or the
// revision applied when none is in hand.
func (s *Set) Settled() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	low := s.applied
	for _, r := range s.active {
		low = min(low, r)
	}
	return low
}

// Len is the number of entries held (expired ones included until removed).
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Filter is the list as one batch sees it. Call Done once every message of
// the batch is acked, nak'ed or terminated.
type Filter struct {
	set   *Set
	token uint64
}

// Begin starts a batch: it will be filtered with the list applied now (or
// a later one).
func (s *Set) Begin() *Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.active[s.next] = s.applied
	return &Filter{set: s, token: s.next}
}

// Suppressed reports whether an event of app with these ids, received by
// ingest at receivedAt (its batch's received_at), is to be dropped: an
// entry applies to the events received before its end, however late they
// are fetched (a backlog in the stream, a dead letter replayed), not to
// those fetched before it. A zero receivedAt counts as received before
// any end.
func (f *Filter) Suppressed(app, userID, anonymousID string, receivedAt time.Time) bool {
	s := f.set
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.entries) == 0 {
		return false
	}
	for _, sub := range [...]Subject{{app, KindUserID, userID}, {app, KindAnonymousID, anonymousID}} {
		if sub.ID == "" {
			continue
		}
		if until, ok := s.entries[sub.Key()]; ok && until.After(receivedAt) {
			return true
		}
	}
	return false
}

// MayWrite reports whether a write may start now: the lease published
// last still covers it whole (WriteBound).
func (f *Filter) MayWrite() bool { return f.set.MayWrite() }

// Done ends the batch.
func (f *Filter) Done() {
	f.set.mu.Lock()
	delete(f.set.active, f.token)
	f.set.mu.Unlock()
}

// MayWrite reports whether the instance's last published status still
// covers a write started now (WriteBound).
func (s *Set) MayWrite() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.now().Add(s.cfg.WriteBound).Before(s.lastBeat.Add(s.cfg.Lease))
}
