package deletion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RunnerConfig bounds and throttles the work of a replica's runner.
type RunnerConfig struct {
	// PageSize: documents read (and deleted) per request.
	PageSize int
	// PageInterval: pause after each page, so a deletion does not starve
	// ingest and queries of the cluster.
	PageInterval time.Duration
	// Lease: how long a claimed job stays this replica's without progress
	// (renewed after every page); another replica takes it after that.
	Lease time.Duration
	// Poll: how often jobs to claim, and enrich's settling, are looked at.
	Poll time.Duration
	// ClockMargin: how far the clocks of the enrich hosts may be off ours.
	ClockMargin time.Duration
}

// Metrics are the runner's counters.
type Metrics struct {
	Jobs    *prometheus.CounterVec // by outcome: completed
	Deleted *prometheus.CounterVec // documents by kind: event, dead_letter
}

// Runner runs jobs, one at a time, in one query replica.
type Runner struct {
	store   Store
	sup     Suppressions
	docs    Documents
	audit   Auditor
	cfg     RunnerConfig
	metrics Metrics
	log     *slog.Logger
	owner   string
	wake    chan struct{}
	now     func() time.Time
}

// NewRunner returns a runner; Run starts it.
func NewRunner(store Store, sup Suppressions, docs Documents, audit Auditor, cfg RunnerConfig, m Metrics, log *slog.Logger) *Runner {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Runner{store: store, sup: sup, docs: docs, audit: audit, cfg: cfg, metrics: m, log: log,
		owner: "query-" + hex.EncodeToString(id[:]), wake: make(chan struct{}, 1), now: time.Now}
}

// Wake makes the runner look for jobs now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends. A job in hand then is given
// back (its lease cleared), for the next replica or restart to resume.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		ids, err := r.store.Claimable(ctx, r.now())
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "looking for deletion jobs failed", "error", err)
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return
			}
			r.runOne(ctx, id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// runOne claims job id (unless another replica did) and runs it to its
// end, or until ctx ends, saving its progress after every step.
func (r *Runner) runOne(ctx context.Context, id string) {
	j, v, err := r.store.Get(ctx, id)
	if err != nil {
		r.log.WarnContext(ctx, "reading deletion job failed", "job_id", id, "error", err)
		return
	}
	if j.State == StateCompleted || j.LeaseUntil.After(r.now()) {
		return
	}
	j.Owner, j.LeaseUntil, j.State = r.owner, r.now().Add(r.cfg.Lease), StateRunning
	if v, err = r.store.Update(ctx, j, v); err != nil {
		if !errors.Is(err, ErrConflict) {
			r.log.WarnContext(ctx, "claiming deletion job failed", "job_id", id, "error", err)
		}
		return
	}
	r.log.InfoContext(ctx, "deletion job running", "job_id", j.ID, "app_id", j.AppID, "phase", j.Phase, "deleted", j.DeletedEvents+j.DeletedDeadLetters)
	// save stores j as it stands with the lease renewed: after every step,
	// and within a step that reads more than a page (the count of the dead
	// letters), so that no step outlasts the lease and another replica
	// never takes a job that is still being worked on.
	save := func() error {
		j.UpdatedAt, j.LeaseUntil = r.now().UTC(), r.now().Add(r.cfg.Lease)
		nv, err := r.store.Update(context.WithoutCancel(ctx), j, v)
		if err != nil {
			return err
		}
		v = nv
		return nil
	}
	for j.State != StateCompleted {
		if ctx.Err() != nil {
			r.release(ctx, j, v)
			return
		}
		waitFor, err := r.step(ctx, &j, save)
		if err != nil {
			if ctx.Err() != nil {
				r.release(ctx, j, v)
				return
			}
			// Said once, not every retry: a closed index can stay closed
			// for hours; the job keeps its reason in last_error.
			level := slog.LevelWarn
			if err.Error() == j.LastError {
				level = slog.LevelDebug
			}
			r.log.Log(ctx, level, "deletion step failed; retrying", "job_id", j.ID, "phase", j.Phase, "error", err)
			j.LastError, waitFor = err.Error(), r.cfg.Poll
		} else {
			j.LastError = ""
		}
		if err := save(); err != nil {
			// Lost (another replica took it after our lease ran out) or
			// not saved: whoever runs it next resumes from the last save.
			r.log.WarnContext(ctx, "saving deletion job failed; leaving it", "job_id", j.ID, "error", err)
			return
		}
		if j.State == StateCompleted {
			r.metrics.Jobs.WithLabelValues("completed").Inc()
			r.audit.Completed(ctx, j)
			r.log.InfoContext(ctx, "deletion job completed", "job_id", j.ID, "app_id", j.AppID,
				"deleted_events", j.DeletedEvents, "deleted_dead_letters", j.DeletedDeadLetters)
			return
		}
		sleep(ctx, waitFor)
	}
}

// step does one bounded piece of j's work and says how long to pause
// before the next; save stores j with its lease renewed (see runOne).
func (r *Runner) step(ctx context.Context, j *Job, save func() error) (time.Duration, error) {
	p := j.Person()
	switch j.Phase {
	case PhaseWaitingForEnrich:
		pending, err := r.sup.Unsettled(ctx, j.SuppressionRevision, r.now(), r.cfg.ClockMargin)
		if err != nil {
			return 0, err
		}
		if len(pending) > 0 {
			r.log.DebugContext(ctx, "deletion waits for enrich instances to apply the suppression", "job_id", j.ID, "instances", pending)
			return r.cfg.Poll, nil
		}
		// From here on no event of the person can be written. What was
		// written before may not be searchable yet (refresh interval):
		// make it so, then count what is there, then delete it.
		if err := r.docs.Refresh(ctx); err != nil {
			return 0, err
		}
		events, err := r.docs.CountEvents(ctx, p)
		if err != nil {
			return 0, err
		}
		letters, err := r.countDeadLetters(ctx, p, save)
		if err != nil {
			return 0, err
		}
		j.Total, j.Phase = events+letters, PhaseDeletingEvents
		return 0, nil
	case PhaseDeletingEvents:
		found, gone, err := r.docs.DeleteEvents(ctx, p, r.cfg.PageSize)
		if err != nil {
			return 0, err
		}
		j.DeletedEvents += int64(gone)
		r.metrics.Deleted.WithLabelValues("event").Add(float64(gone))
		// Only a search that found none says none is left: a page whose
		// documents were all gone already (retention deleted their index
		// under it) says nothing of the person's events in other indices.
		if found == 0 {
			j.Phase = PhaseDeletingDeadLetters
			return 0, nil
		}
		return r.cfg.PageInterval, nil
	case PhaseDeletingDeadLetters:
		n, next, done, err := r.docs.DeadLetters(ctx, p, j.DeadLetters, r.cfg.PageSize, false)
		if err != nil {
			return 0, err
		}
		j.DeletedDeadLetters += int64(n)
		r.metrics.Deleted.WithLabelValues("dead_letter").Add(float64(n))
		j.DeadLetters = next
		if done {
			completed := r.now().UTC()
			j.State, j.Phase, j.CompletedAt = StateCompleted, PhaseDone, &completed
			// Nothing needs the ids any more: only their fingerprints stay.
			j.UserID, j.AnonymousID, j.Owner, j.LeaseUntil = "", "", "", time.Time{}
		}
		return r.cfg.PageInterval, nil
	}
	return 0, errors.New("unknown phase " + j.Phase)
}

// countDeadLetters counts the person's dead letters. It reads every letter
// of the app, which takes as long as the app has letters (kept for
// ENRICH_DEADLETTER_RETENTION): the job is saved after every page, so its
// lease never runs out while it counts.
func (r *Runner) countDeadLetters(ctx context.Context, p Person, save func() error) (int64, error) {
	var total int64
	cur := Cursor{}
	for {
		n, next, done, err := r.docs.DeadLetters(ctx, p, cur, r.cfg.PageSize, true)
		if err != nil {
			return 0, err
		}
		total += int64(n)
		if done {
			return total, nil
		}
		if err := save(); err != nil {
			return 0, fmt.Errorf("renew the lease while counting dead letters: %w", err)
		}
		cur = next
	}
}

// ReleaseTimeout bounds giving a job back when the replica stops.
const ReleaseTimeout = 5 * time.Second

// release gives j back at once (its lease cleared) when the replica stops.
func (r *Runner) release(ctx context.Context, j Job, v Version) {
	j.Owner, j.LeaseUntil = "", time.Time{}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReleaseTimeout)
	defer cancel()
	if _, err := r.store.Update(sctx, j, v); err != nil {
		r.log.WarnContext(ctx, "giving back deletion job failed; it is taken again when its lease runs out", "job_id", j.ID, "error", err)
		return
	}
	r.log.InfoContext(ctx, "deletion job given back at shutdown", "job_id", j.ID, "phase", j.Phase)
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
