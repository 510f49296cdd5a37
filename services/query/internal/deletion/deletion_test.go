package deletion

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// memStore is a Store in memory, with versions.
type memStore struct {
	mu   sync.Mutex
	jobs map[string]Job
	ver  map[string]int64
	log  *[]string
}

func newMemStore(log *[]string) *memStore {
	return &memStore{jobs: map[string]Job{}, ver: map[string]int64{}, log: log}
}

func (s *memStore) Create(_ context.Context, j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.log = append(*s.log, "create")
	s.jobs[j.ID], s.ver[j.ID] = j, 1
	return nil
}

func (s *memStore) Get(_ context.Context, id string) (Job, Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, Version{}, ErrNotFound
	}
	return j, Version{SeqNo: s.ver[id]}, nil
}

func (s *memStore) Active(_ context.Context, subject string) (Job, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.Subject == subject && j.State != StateCompleted {
			return j, true, nil
		}
	}
	return Job{}, false, nil
}

func (s *memStore) Claimable(_ context.Context, now time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, j := range s.jobs {
		if j.State != StateCompleted && j.LeaseUntil.Before(now) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s *memStore) Update(_ context.Context, j Job, v Version) (Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ver[j.ID] != v.SeqNo {
		return v, ErrConflict
	}
	s.jobs[j.ID] = j
	s.ver[j.ID]++
	return Version{SeqNo: s.ver[j.ID]}, nil
}

// fakeSup records suppressions and reports enrich unsettled for its first
// unsettled calls.
type fakeSup struct {
	log       *[]string
	unsettled int
	subjects  []suppression.Subject
}

func (f *fakeSup) Suppress(_ context.Context, subjects []suppression.Subject, _ time.Time, _ string) (uint64, error) {
	*f.log = append(*f.log, "suppress")
	f.subjects = subjects
	return 7, nil
}

func (f *fakeSup) Unsettled(_ context.Context, rev uint64, _ time.Time, _ time.Duration) ([]string, error) {
	if rev != 7 {
		return nil, io.ErrUnexpectedEOF
	}
	if f.unsettled > 0 {
		f.unsettled--
		return []string{"enrich-1"}, nil
	}
	return nil, nil
}

// fakeDocs holds a number of the person's events and dead letters.
type fakeDocs struct {
	events, letters int
	counted         bool
	settledFirst    bool // CountEvents was only called once enrich settled and the indices were refreshed
	refreshed       bool
	sup             *fakeSup
	afterPage       func()
	// nothingGoneFirst: the first page finds documents but counts none
	// gone by it.
	nothingGoneFirst bool
}

func (d *fakeDocs) Refresh(context.Context) error {
	d.refreshed = d.sup.unsettled == 0
	return nil
}

func (d *fakeDocs) CountEvents(context.Context, Person) (int64, error) {
	d.counted, d.settledFirst = true, d.sup.unsettled == 0 && d.refreshed
	return int64(d.events), nil
}

func (d *fakeDocs) DeleteEvents(_ context.Context, _ Person, n int) (int, int, error) {
	k := min(n, d.events)
	d.events -= k
	gone := k
	if d.nothingGoneFirst {
		// Every document of the page was deleted under it: the page
		// reports what it found and nothing it deleted.
		d.nothingGoneFirst, gone = false, 0
	}
	if d.afterPage != nil {
		d.afterPage()
	}
	return k, gone, nil
}

func (d *fakeDocs) DeadLetters(_ context.Context, _ Person, cur Cursor, _ int, countOnly bool) (int, Cursor, bool, error) {
	k := d.letters
	if !countOnly {
		d.letters = 0
	}
	return k, cur, true, nil
}

type fakeAudit struct{ completed []Job }

func (a *fakeAudit) Completed(_ context.Context, j Job) { a.completed = append(a.completed, j) }

var (
	deleter = auth.Principal{Name: "token-1", Apps: []string{"app"}, CanDelete: true}
	reader  = auth.Principal{Name: "token-2", AllApps: true}
)

func TestRequestRules(t *testing.T) {
	tests := []struct {
		name  string
		p     auth.Principal
		req   *queryv1.DeleteUserRequest
		kind  search.Kind
		param string
	}{
		{"no delete permission", reader, &queryv1.DeleteUserRequest{AppId: "app", UserId: "u"}, search.KindPermissionDenied, ""},
		{"no app", deleter, &queryv1.DeleteUserRequest{UserId: "u"}, search.KindInvalidArgument, "app_id"},
		{"bad app", deleter, &queryv1.DeleteUserRequest{AppId: "a p", UserId: "u"}, search.KindInvalidArgument, "app_id"},
		{"app outside the scope", deleter, &queryv1.DeleteUserRequest{AppId: "other", UserId: "u"}, search.KindPermissionDenied, ""},
		{"no id", deleter, &queryv1.DeleteUserRequest{AppId: "app"}, search.KindInvalidArgument, "user_id"},
		{"long id", deleter, &queryv1.DeleteUserRequest{AppId: "app", AnonymousId: strings.Repeat("x", 257)}, search.KindInvalidArgument, "anonymous_id"},
		{"not UTF-8", deleter, &queryv1.DeleteUserRequest{AppId: "app", UserId: "\xff"}, search.KindInvalidArgument, "user_id"},
		// user_id is pseudonymised: its pseudonym finds the stored events
		// but would never suppress the new ones, which arrive with the id.
		{"a pseudonymised user_id's pseudonym", deleter, &queryv1.DeleteUserRequest{AppId: "app", UserId: aPseudonym}, search.KindInvalidArgument, "user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			svc := NewService(newMemStore(&log), &fakeSup{log: &log}, time.Hour, func() {}).WithPseudonymised([]string{"user_id"}, pseudonym.Ring{})
			_, err := svc.Request(context.Background(), tt.p, tt.req)
			se, ok := search.AsError(err)
			if !ok || se.Kind != tt.kind || se.Param != tt.param {
				t.Fatalf("err %v, want kind %d param %q", err, tt.kind, tt.param)
			}
			if len(log) != 0 {
				t.Fatalf("a refused request did %v", log)
			}
		})
	}
}

// aPseudonym has the form of a pseudonym (pseudonym.Is).
const aPseudonym = "p1:3UB1TSwNEVV_orH3GM4m0w"

// TestRequestByPseudonymOnlyWherePseudonymised: an id of the pseudonym's
// form is refused only in a field enrich pseudonymises; elsewhere, or with
// pseudonymisation off, it is just an id.
func TestRequestByPseudonymOnlyWherePseudonymised(t *testing.T) {
	for _, fields := range [][]string{nil, {"anonymous_id"}} {
		var log []string
		svc := NewService(newMemStore(&log), &fakeSup{log: &log}, time.Hour, func() {}).WithPseudonymised(fields, pseudonym.Ring{})
		if _, err := svc.Request(context.Background(), deleter, &queryv1.DeleteUserRequest{AppId: "app", UserId: aPseudonym}); err != nil {
			t.Fatalf("pseudonymised %v: %v", fields, err)
		}
	}
}

func TestRequestSuppressesFirstAndIsIdempotent(t *testing.T) {
	var log []string
	sup := &fakeSup{log: &log}
	svc := NewService(newMemStore(&log), sup, time.Hour, func() {})
	req := &queryv1.DeleteUserRequest{AppId: "app", UserId: "u", AnonymousId: "a"}
	j, err := svc.Request(context.Background(), deleter, req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(log, ",") != "suppress,create" || len(sup.subjects) != 2 {
		t.Fatalf("order %v, subjects %v: want the suppression of both ids before the job", log, sup.subjects)
	}
	again, err := svc.Request(context.Background(), deleter, req)
	if err != nil || again.GetJobId() != j.GetJobId() {
		t.Fatalf("second request: %v %v, want job %s", again, err, j.GetJobId())
	}
	if _, err := svc.Get(context.Background(), reader, &queryv1.GetDeletionRequest{JobId: j.GetJobId()}); err == nil {
		t.Fatal("a token without the delete permission read the job")
	}
	if g, err := svc.Get(context.Background(), deleter, &queryv1.GetDeletionRequest{JobId: j.GetJobId()}); err != nil || g.GetState() != queryv1.DeletionState_DELETION_STATE_PENDING {
		t.Fatalf("get: %v %v", g, err)
	}
}

func TestRunnerWaitsForEnrichAndResumesAfterAStop(t *testing.T) {
	_, store, sup, j := requestedJob(t)
	sup.unsettled = 2
	docs := &fakeDocs{events: 25, letters: 2, sup: sup}
	cfg := RunnerConfig{PageSize: 10, Lease: time.Minute, Poll: time.Millisecond}
	m := Metrics{Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "j"}, []string{"outcome"}),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"kind"})}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	audit := &fakeAudit{}

	// The first runner stops after its first page.
	ctx, cancel := context.WithCancel(context.Background())
	docs.afterPage = cancel
	NewRunner(store, sup, docs, audit, cfg, m, quiet).runOne(ctx, j.GetJobId())
	mid, _, _ := store.Get(context.Background(), j.GetJobId())
	if !docs.settledFirst || mid.State != StateRunning || mid.DeletedEvents != 10 || mid.Total != 27 || !mid.LeaseUntil.IsZero() {
		t.Fatalf("after the stop: %+v (counted after enrich settled: %v); want 10 of 27 deleted and the job given back", mid, docs.settledFirst)
	}

	docs.afterPage = nil
	NewRunner(store, sup, docs, audit, cfg, m, quiet).runOne(context.Background(), j.GetJobId())
	done, _, _ := store.Get(context.Background(), j.GetJobId())
	if done.State != StateCompleted || done.DeletedEvents != 25 || done.DeletedDeadLetters != 2 || docs.events != 0 {
		t.Fatalf("after the resume: %+v", done)
	}
	if done.UserID != "" || done.AnonymousID != "" || done.UserFingerprint == "" {
		t.Fatalf("the completed job keeps %q %q: want only fingerprints", done.UserID, done.AnonymousID)
	}
	if len(audit.completed) != 1 {
		t.Fatalf("completion audited %d times, want once", len(audit.completed))
	}
}

// TestRunnerEndsTheEventsOnlyWhenASearchFindsNone: a page that deleted
// nothing (its documents were gone under it) is not the end of the
// person's events; only a search that finds none is.
func TestRunnerEndsTheEventsOnlyWhenASearchFindsNone(t *testing.T) {
	_, store, sup, j := requestedJob(t)
	docs := &fakeDocs{events: 25, sup: sup, nothingGoneFirst: true}
	m := Metrics{Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "j"}, []string{"outcome"}),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"kind"})}
	NewRunner(store, sup, docs, &fakeAudit{}, RunnerConfig{PageSize: 10, Lease: time.Minute, Poll: time.Millisecond}, m,
		slog.New(slog.DiscardHandler)).runOne(context.Background(), j.GetJobId())
	done, _, _ := store.Get(context.Background(), j.GetJobId())
	if done.State != StateCompleted || docs.events != 0 || done.DeletedEvents != 15 {
		t.Fatalf("job %+v with %d events left: want it completed once no event is left (15 counted deleted, 10 gone under the first page)", done, docs.events)
	}
}

// manyLetters is an app with the person's events and more dead letters
// than can be read within a lease: each page of letters takes perPage of
// the (fake) clock, and after each one another replica looks for jobs to
// take (onPage).
type manyLetters struct {
	events, pages, theirs int
	perPage               time.Duration
	advance               func(time.Duration)
	onPage                func(page int)
	read                  int // pages read by the count
}

func (d *manyLetters) Refresh(context.Context) error { return nil }

func (d *manyLetters) CountEvents(context.Context, Person) (int64, error) {
	return int64(d.events), nil
}

func (d *manyLetters) DeleteEvents(_ context.Context, _ Person, n int) (int, int, error) {
	k := min(n, d.events)
	d.events -= k
	return k, k, nil
}

func (d *manyLetters) DeadLetters(_ context.Context, _ Person, cur Cursor, _ int, countOnly bool) (int, Cursor, bool, error) {
	if !countOnly { // the person's letters are few: one page deletes them
		k := d.theirs
		d.theirs = 0
		return k, cur, true, nil
	}
	d.read++
	d.advance(d.perPage)
	d.onPage(d.read)
	matched := 0
	if d.read == d.pages {
		matched = d.theirs
	}
	return matched, Cursor{Index: "deadletter-p-2026.12.01", After: strconv.Itoa(d.read)}, d.read == d.pages, nil
}

// TestJobKeepsItsLeaseWhileCountingDeadLetters: counting the person's dead
// letters reads every letter of the app, which takes as long as the app has
// letters — more, after weeks of a mapping error, than a lease. The job
// must stay its runner's all along: were its lease to run out, another
// replica would take it, the first one's save would be refused, and with
// every count outlasting a lease each replica in turn would lose its count
// to the next, the job never leaving waiting_for_enrich while the person's
// events stay searchable.
func TestJobKeepsItsLeaseWhileCountingDeadLetters(t *testing.T) {
	_, store, sup, req := requestedJob(t)
	id := req.GetJobId()
	const lease = 10 * time.Second
	clock := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	start := clock
	now := func() time.Time { return clock }
	takenAt := 0
	docs := &manyLetters{events: 5, pages: 8, theirs: 2, perPage: lease / 2, advance: func(d time.Duration) { clock = clock.Add(d) }}
	docs.onPage = func(page int) {
		// Another replica's runner, looking for jobs (Runner.Run) and
		// claiming one whose lease ran out (Runner.runOne).
		ids, err := store.Claimable(context.Background(), now())
		if err != nil || len(ids) == 0 || takenAt != 0 {
			return
		}
		j, v, err := store.Get(context.Background(), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		j.Owner, j.LeaseUntil = "query-other", now().Add(lease)
		if _, err := store.Update(context.Background(), j, v); err == nil {
			takenAt = page
		}
	}
	m := Metrics{Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "j"}, []string{"outcome"}),
		Deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"kind"})}
	r := NewRunner(store, sup, docs, &fakeAudit{}, RunnerConfig{PageSize: 10, Lease: lease, Poll: time.Millisecond}, m,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.now = now
	r.runOne(context.Background(), id)

	j, _, _ := store.Get(context.Background(), id)
	if takenAt != 0 {
		t.Fatalf("another replica took the job after page %d of %d of the dead-letter count (%s in, lease %s): the count was lost; "+
			"job state %s, phase %s, owner %s, total %d", takenAt, docs.pages, time.Duration(takenAt)*docs.perPage, lease, j.State, j.Phase, j.Owner, j.Total)
	}
	if j.State != StateCompleted || j.Total != 7 || j.DeletedEvents != 5 || j.DeletedDeadLetters != 2 {
		t.Fatalf("job after a count of %s: %+v, want completed with 5 events and 2 letters", clock.Sub(start), j)
	}
}

// requestedJob is a deletion of user u of app requested from a service on
// in-memory fakes, with the log the fakes write their calls to.
func requestedJob(t *testing.T) (*[]string, *memStore, *fakeSup, *queryv1.DeletionJob) {
	t.Helper()
	log := new([]string)
	store := newMemStore(log)
	sup := &fakeSup{log: log}
	svc := NewService(store, sup, time.Hour, func() {})
	j, err := svc.Request(context.Background(), deleter, &queryv1.DeleteUserRequest{AppId: "app", UserId: "u"})
	if err != nil {
		t.Fatal(err)
	}
	return log, store, sup, j
}
