package search

import (
	"errors"
	"fmt"
)

// Kind classifies a failed query; the gRPC edge maps each kind to a status
// code in one place (and grpc-gateway maps those to HTTP).
type Kind int

const (
	// KindInvalidArgument: a parameter is wrong (400).
	KindInvalidArgument Kind = iota + 1
	// KindPermissionDenied: the token may not read the app asked for (403).
	KindPermissionDenied
	// KindUnavailable: the event store cannot answer now (503).
	KindUnavailable
	// KindNotFound: no such event among those the token may read (404).
	KindNotFound
)

// Error is a query failure safe to show to the caller: Message never contains
// the store's own error text, which stays in Err for the logs.
type Error struct {
	Kind    Kind
	Param   string // the offending parameter, if one is to blame
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Param != "" {
		msg = e.Param + ": " + msg
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var se *Error
	ok := errors.As(err, &se)
	return se, ok
}

func invalid(param, format string, args ...any) *Error {
	return &Error{Kind: KindInvalidArgument, Param: param, Message: fmt.Sprintf(format, args...)}
}
