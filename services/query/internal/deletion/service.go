package deletion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/platform/appid"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// maxIDBytes bounds a user or anonymous id in a request (ingest accepts no
// longer ones).
const maxIDBytes = 256

// Service takes deletion requests and reports on jobs.
type Service struct {
	store         Store
	sup           Suppressions
	suppressFor   time.Duration
	wake          func()
	now           func() time.Time
	pseudonymised []string       // fields enrich stores as pseudonyms
	pseudonyms    pseudonym.Ring // and the keys it used
}

// NewService returns the use case: people are suppressed for suppressFor
// from their request; wake tells the local runner a job is waiting.
func NewService(store Store, sup Suppressions, suppressFor time.Duration, wake func()) *Service {
	return &Service{store: store, sup: sup, suppressFor: suppressFor, wake: wake, now: time.Now}
}

// WithPseudonymised tells the service which fields enrich pseudonymises
// and with which keys (ring: the current one and those used before a
// rotation). It refuses requests naming a person by a pseudonym in one of
// fields: the stored events would be found, but the suppression list is
// checked against the ids events arrive with, so the person's new events
// would go on being stored. And it suppresses the person's pseudonyms too
// (suppression.Subject.WithPseudonyms): the dead-letter replay only sees
// the documents as built, which hold the pseudonyms.
func (s *Service) WithPseudonymised(fields []string, ring pseudonym.Ring) *Service {
	s.pseudonymised, s.pseudonyms = fields, ring
	return s
}

// subjects are the person's entries on the suppression list: each of their
// ids, and its pseudonyms where enrich pseudonymises it.
func (s *Service) subjects(p Person) []suppression.Subject {
	var out []suppression.Subject
	for _, sub := range p.Subjects() {
		if slices.Contains(s.pseudonymised, string(sub.Kind)) {
			out = append(out, sub.WithPseudonyms(s.pseudonyms)...)
			continue
		}
		out = append(out, sub)
	}
	return out
}

func denied(msg string) error {
	return &search.Error{Kind: search.KindPermissionDenied, Message: msg}
}

func invalid(param, msg string) error {
	return &search.Error{Kind: search.KindInvalidArgument, Param: param, Message: msg}
}

func unavailable(err error) error {
	return &search.Error{Kind: search.KindUnavailable, Message: "deletion store unavailable, try again", Err: err}
}

// Request starts deleting the person req names, or returns the job already
// doing so. The person is on the suppression list before the job exists
// (and before this returns): from then on no event of theirs is stored.
func (s *Service) Request(ctx context.Context, p auth.Principal, req *queryv1.DeleteUserRequest) (*queryv1.DeletionJob, error) {
	if !p.CanDelete {
		return nil, denied("this token lacks the delete permission")
	}
	person := Person{AppID: req.GetAppId(), UserID: req.GetUserId(), AnonymousID: req.GetAnonymousId()}
	if person.AppID == "" {
		return nil, invalid("app_id", "required: a deletion is always within one app")
	}
	if err := appid.Validate(person.AppID); err != nil {
		return nil, invalid("app_id", err.Error())
	}
	if !p.CanRead(person.AppID) {
		return nil, denied("this token may not access app " + person.AppID)
	}
	if person.UserID == "" && person.AnonymousID == "" {
		return nil, invalid("user_id", "user_id or anonymous_id (or both) is required")
	}
	for param, v := range map[string]string{"user_id": person.UserID, "anonymous_id": person.AnonymousID} {
		if len(v) > maxIDBytes || !utf8.ValidString(v) {
			return nil, invalid(param, fmt.Sprintf("at most %d bytes of UTF-8", maxIDBytes))
		}
		if slices.Contains(s.pseudonymised, param) && pseudonym.Is(v) {
			return nil, invalid(param, "a pseudonym: events arrive under the original id, which the suppression list needs; ask with the original id (the person's own)")
		}
	}
	subject := person.Fingerprint()
	if j, ok, err := s.store.Active(ctx, subject); err != nil {
		return nil, unavailable(err)
	} else if ok {
		return Proto(j), nil
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := s.now().UTC()
	j := Job{ID: hex.EncodeToString(id[:]), AppID: person.AppID, UserID: person.UserID, AnonymousID: person.AnonymousID,
		Subject: subject, UserFingerprint: IDFingerprint(person.AppID, suppression.KindUserID, person.UserID),
		AnonymousFingerprint: IDFingerprint(person.AppID, suppression.KindAnonymousID, person.AnonymousID),
		State:                StatePending, Phase: PhaseWaitingForEnrich, Requester: p.Name, CreatedAt: now, UpdatedAt: now,
		SuppressedUntil: now.Add(s.suppressFor)}
	rev, err := s.sup.Suppress(ctx, s.subjects(person), j.SuppressedUntil, j.ID)
	if err != nil {
		return nil, &search.Error{Kind: search.KindUnavailable, Message: "suppression list unavailable, try again", Err: err}
	}
	j.SuppressionRevision = rev
	if err := s.store.Create(ctx, j); err != nil {
		return nil, unavailable(err)
	}
	s.wake()
	return Proto(j), nil
}

// Get reports on a job. A token without the delete permission is refused;
// a job of an app the token may not access is not found.
func (s *Service) Get(ctx context.Context, p auth.Principal, req *queryv1.GetDeletionRequest) (*queryv1.DeletionJob, error) {
	if !p.CanDelete {
		return nil, denied("this token lacks the delete permission")
	}
	id := req.GetJobId()
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		return nil, invalid("job_id", "32 hex characters, as DeleteUser returned")
	}
	j, _, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !p.CanRead(j.AppID)) {
		return nil, &search.Error{Kind: search.KindNotFound, Param: "job_id", Message: "no such deletion job"}
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return Proto(j), nil
}

// Proto is j as the API shows it: without the person's ids.
func Proto(j Job) *queryv1.DeletionJob {
	out := &queryv1.DeletionJob{JobId: j.ID, AppId: j.AppID, Phase: j.Phase, Total: j.Total,
		Deleted: j.DeletedEvents + j.DeletedDeadLetters, DeletedEvents: j.DeletedEvents, DeletedDeadLetters: j.DeletedDeadLetters,
		CreatedAt: timestamppb.New(j.CreatedAt), SuppressedUntil: timestamppb.New(j.SuppressedUntil)}
	switch j.State {
	case StatePending:
		out.State = queryv1.DeletionState_DELETION_STATE_PENDING
	case StateRunning:
		out.State = queryv1.DeletionState_DELETION_STATE_RUNNING
	case StateCompleted:
		out.State = queryv1.DeletionState_DELETION_STATE_COMPLETED
	}
	if j.CompletedAt != nil {
		out.CompletedAt = timestamppb.New(*j.CompletedAt)
	}
	return out
}
