package suppression

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
)

// statusMaxAge is how long an instance's status survives without being
// published again (its lease ends much sooner; this only clears the keys of
// instances that stopped without removing theirs).
const statusMaxAge = 24 * time.Hour

// Buckets are the suppression bucket and its status bucket.
type Buckets struct {
	entries njs.KeyValue
	status  njs.KeyValue
}

// Open creates (or binds to, updating their settings) the suppression
// bucket named bucket and its status bucket, with file storage and replicas
// copies (1 on a single server, 3 in a cluster). It raises a bucket's
// copies but never lowers them: an instance started without the cluster's
// setting (a rolling restart that lost SUPPRESSION_REPLICAS) would
// otherwise leave every deletion and every enrich lease on one node's disk.
func Open(ctx context.Context, js njs.JetStream, bucket string, replicas int) (*Buckets, error) {
	entries, err := js.CreateOrUpdateKeyValue(ctx, njs.KeyValueConfig{Bucket: bucket, History: 1, Storage: njs.FileStorage,
		Replicas: replicasAtLeast(ctx, js, bucket, replicas), Description: "people whose events are not stored (deletion requests); keys are hashes of the ids"})
	if err != nil {
		return nil, fmt.Errorf("suppression bucket %s: %w", bucket, err)
	}
	status, err := js.CreateOrUpdateKeyValue(ctx, njs.KeyValueConfig{Bucket: bucket + StatusSuffix, History: 1, Storage: njs.FileStorage,
		Replicas: replicasAtLeast(ctx, js, bucket+StatusSuffix, replicas), TTL: statusMaxAge, Description: "the suppression revision each enrich instance applies, and its lease"})
	if err != nil {
		return nil, fmt.Errorf("suppression status bucket %s%s: %w", bucket, StatusSuffix, err)
	}
	return &Buckets{entries: entries, status: status}, nil
}

// replicasAtLeast is the larger of replicas (at least 1) and the copies
// the bucket has now, if it exists.
func replicasAtLeast(ctx context.Context, js njs.JetStream, bucket string, replicas int) int {
	n := max(replicas, 1)
	if s, err := js.Stream(ctx, "KV_"+bucket); err == nil {
		n = max(n, s.CachedInfo().Config.Replicas)
	}
	return n
}

// Suppress records every subject until until and returns the highest
// revision written: once every enrich instance has settled at it
// (Unsettled is empty), none writes an event of theirs again. Recording a
// subject again moves its end to the later of the two.
func (b *Buckets) Suppress(ctx context.Context, subjects []Subject, until time.Time, jobID string) (uint64, error) {
	var rev uint64
	for _, s := range subjects {
		key := s.Key()
		if old, err := b.entries.Get(ctx, key); err == nil {
			if e, err := decodeEntry(old.Value()); err == nil && e.Until.After(until) {
				until = e.Until
			}
		} else if !errors.Is(err, njs.ErrKeyNotFound) {
			return 0, fmt.Errorf("read suppression: %w", err)
		}
		v, err := encode(Entry{Until: until.UTC(), JobID: jobID})
		if err != nil {
			return 0, err
		}
		r, err := b.entries.Put(ctx, key, v)
		if err != nil {
			return 0, fmt.Errorf("record suppression: %w", err)
		}
		rev = max(rev, r)
	}
	return rev, nil
}

// Unsettled lists the enrich instances whose lease runs past now - margin
// and that have not yet settled at rev: while it is not empty, one of them
// may still write an event filtered without the entries of rev. margin
// covers the clocks of the hosts disagreeing.
func (b *Buckets) Unsettled(ctx context.Context, rev uint64, now time.Time, margin time.Duration) ([]string, error) {
	keys, err := b.status.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list enrich instances: %w", err)
	}
	var pending []string
	for k := range keys.Keys() {
		e, err := b.status.Get(ctx, k)
		if errors.Is(err, njs.ErrKeyNotFound) {
			continue // removed meanwhile: stopped
		}
		if err != nil {
			return nil, fmt.Errorf("read enrich instance status: %w", err)
		}
		var st Status
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return nil, fmt.Errorf("decode enrich instance status %s: %w", k, err)
		}
		if st.Settled < rev && st.LeaseUntil.Add(margin).After(now) {
			pending = append(pending, k)
		}
	}
	return pending, nil
}

// DeleteExpired removes the entries whose end is before before and returns
// how many it removed. Several processes may run it at once. An entry
// decides about every event received before its end, so remove only what
// no event still waiting can need: see RemovableBefore.
func (b *Buckets) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	keys, err := b.entries.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list suppressions: %w", err)
	}
	n := 0
	for k := range keys.Keys() {
		e, err := b.entries.Get(ctx, k)
		if errors.Is(err, njs.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("read suppression: %w", err)
		}
		if v, err := decodeEntry(e.Value()); err == nil && !v.Until.Before(before) {
			continue
		}
		// Only the revision read: an entry recorded again meanwhile stays.
		if err := b.entries.Delete(ctx, k, njs.LastRevision(e.Revision())); err != nil {
			continue
		}
		n++
	}
	return n, nil
}

// ArrivalMargin is how much earlier than the time the broker stored its
// message a batch's received_at may be: ingest stamps it when the request
// arrives, then publishes (within its publish timeout, retried by the
// client as a new batch otherwise), on a host whose clock may be a little
// off the broker's. An hour is ample, and costs only an hour more of an
// entry that already ended.
const ArrivalMargin = time.Hour

// RemovableBefore returns the time before which an entry must have ended to
// be removed at now. Enrich judges an entry's end by when each event was
// received (Filter.Suppressed), so an entry must stay while the events
// stream may hold a batch received before its end: one behind a backlog
// (OpenSearch away, enrich down), which the stream keeps until enrich has
// handled it (a work queue). That is the older of now and the time of the
// oldest message still in stream, less ArrivalMargin. A stream that does
// not exist holds nothing.
func RemovableBefore(ctx context.Context, js njs.JetStream, stream string, now time.Time) (time.Time, error) {
	before := now
	s, err := js.Stream(ctx, stream)
	switch {
	case errors.Is(err, njs.ErrStreamNotFound):
	case err != nil:
		return time.Time{}, fmt.Errorf("read events stream %s: %w", stream, err)
	default:
		if st := s.CachedInfo().State; st.Msgs > 0 && st.FirstTime.Before(before) {
			before = st.FirstTime
		}
	}
	return before.Add(-ArrivalMargin), nil
}

// List opens the buckets on first use (and again after a failure), so a
// process can start while the broker is away; its methods are those of
// Buckets.
type List struct {
	js       njs.JetStream
	bucket   string
	replicas int
	stream   string // the events stream (see RemovableBefore)
	mu       sync.Mutex
	b        *Buckets
}

// NewList returns the list of bucket, opened when first used; stream is
// the events stream whose waiting batches its entries still decide about.
func NewList(js njs.JetStream, bucket string, replicas int, stream string) *List {
	return &List{js: js, bucket: bucket, replicas: replicas, stream: stream}
}

func (l *List) open(ctx context.Context) (*Buckets, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b == nil {
		b, err := Open(ctx, l.js, l.bucket, l.replicas)
		if err != nil {
			return nil, err
		}
		l.b = b
	}
	return l.b, nil
}

// Suppress is Buckets.Suppress.
func (l *List) Suppress(ctx context.Context, subjects []Subject, until time.Time, jobID string) (uint64, error) {
	b, err := l.open(ctx)
	if err != nil {
		return 0, err
	}
	return b.Suppress(ctx, subjects, until, jobID)
}

// Unsettled is Buckets.Unsettled.
func (l *List) Unsettled(ctx context.Context, rev uint64, now time.Time, margin time.Duration) ([]string, error) {
	b, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	return b.Unsettled(ctx, rev, now, margin)
}

// DeleteExpired removes the entries that ended before RemovableBefore(now)
// (Buckets.DeleteExpired): none that a batch still waiting in the events
// stream may need.
func (l *List) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	b, err := l.open(ctx)
	if err != nil {
		return 0, err
	}
	before, err := RemovableBefore(ctx, l.js, l.stream, now)
	if err != nil {
		return 0, err
	}
	return b.DeleteExpired(ctx, before)
}
