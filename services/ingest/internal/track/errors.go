package track

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a whole-request failure; the HTTP and gRPC edges map each
// kind to a status code in one place.
type Kind int

const (
	// KindInvalid: the body cannot be used at all (400).
	KindInvalid Kind = iota + 1
	// KindTooLarge: the request exceeds a batch limit (413).
	KindTooLarge
	// KindUnavailable: the events could not be stored durably now; retry (503).
	KindUnavailable
	// KindUnsupported: a Content-Type or Content-Encoding the service does
	// not read (415).
	KindUnsupported
	// KindOverloaded: too much work in flight; retry after a pause (503).
	KindOverloaded
	// KindRateLimited: the app is over its rate limit, or the client
	// address over its share of the memory budget (AddressBudget) (429).
	KindRateLimited
	// KindUnauthorized: no valid write key where the body was to carry one (401).
	KindUnauthorized
)

// Error is a whole-request failure with a stable machine-readable code.
type Error struct {
	Kind    Kind
	Code    string // e.g. "invalid_json", "too_many_events", "publish_failed"
	Message string
	Err     error // cause, never shown to clients
	// RetryAfter, when set, is how long the client should wait (429/503).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var te *Error
	ok := errors.As(err, &te)
	return te, ok
}

// EventError says why one event of a batch was rejected.
type EventError struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Result is the outcome of a request whose valid events were stored.
type Result struct {
	Accepted   int          `json:"accepted"`
	Rejected   int          `json:"rejected"`
	Duplicates int          `json:"duplicates"`
	Errors     []EventError `json:"errors"`
}
