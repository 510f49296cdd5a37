package search

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// Filters select events. Every value only ever fills a term, range or
// simple_query_string parameter built from typed values: nothing a caller
// sends becomes query syntax.
type Filters struct {
	Apps        []string // nil: every app
	UserID      string
	AnonymousID string
	SessionID   string
	EventNames  []string
	AppVersion  string
	DeviceOS    string
	Country     string
	From, To    *time.Time
	Q           string
}

// Request is the filter part of a call as the caller sent it.
type Request struct {
	AppID       string
	UserID      string
	AnonymousID string
	SessionID   string
	EventNames  []string
	AppVersion  string
	DeviceOS    string
	Country     string
	From, To    *time.Time
	Q           string
}

const (
	maxValueLen = 256
	maxQLen     = 1024
	maxNames    = 50
)

// Scope checks r's values and applies the principal's app scope.
func Scope(p auth.Principal, r Request) (Filters, error) {
	f := Filters{UserID: r.UserID, AnonymousID: r.AnonymousID, SessionID: r.SessionID, EventNames: r.EventNames,
		AppVersion: r.AppVersion, DeviceOS: r.DeviceOS, Country: r.Country, From: r.From, To: r.To, Q: r.Q}
	for _, v := range []struct{ name, value string }{
		{"app_id", r.AppID}, {"user_id", r.UserID}, {"anonymous_id", r.AnonymousID}, {"session_id", r.SessionID},
		{"app_version", r.AppVersion}, {"device_os", r.DeviceOS}, {"country", r.Country},
	} {
		if err := checkValue(v.name, v.value, maxValueLen); err != nil {
			return f, err
		}
	}
	if len(r.EventNames) > maxNames {
		return f, invalid("event_name", "at most %d names", maxNames)
	}
	for _, n := range r.EventNames {
		if n == "" {
			return f, invalid("event_name", "must not be empty")
		}
		if err := checkValue("event_name", n, maxValueLen); err != nil {
			return f, err
		}
	}
	if err := checkValue("q", r.Q, maxQLen); err != nil {
		return f, err
	}
	if r.From != nil && r.To != nil && !r.From.Before(*r.To) {
		return f, invalid("from", "must be before to")
	}
	switch app := r.AppID; {
	case app != "" && !p.CanRead(app):
		return f, &Error{Kind: KindPermissionDenied, Param: "app_id", Message: "this token may not read app " + app}
	case app != "":
		f.Apps = []string{app}
	case !p.AllApps:
		f.Apps = slices.Clone(p.Apps)
	}
	return f, nil
}

func checkValue(name, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return invalid(name, "not valid UTF-8")
	case len(v) > max && utf8.RuneCountInString(v) > max:
		return invalid(name, "longer than %d characters", max)
	}
	return nil
}
