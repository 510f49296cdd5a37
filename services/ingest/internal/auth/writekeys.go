// Package auth maps write keys to the apps they belong to.
package auth

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/evtrack/telemetry/platform/appid"
	"github.com/evtrack/telemetry/platform/credentials"
)

// WriteKeys is the set of accepted write keys, each granting one app id.
type WriteKeys struct {
	set *credentials.Set[string]
}

// ParseWriteKeys reads "key1:app-ios,key2:app-android". Keys must be at least
// 16 characters; an app may have several keys (rotation).
func ParseWriteKeys(spec string) (*WriteKeys, error) {
	set, err := credentials.ParseList(spec, "write key", "key:app_id", func(_, app string) (string, error) {
		app = strings.TrimSpace(app)
		if appid.Validate(app) != nil {
			return "", errors.New("the app id after the colon must be 1-64 letters, digits, '-' or '_' (not shown: it may be a key written first)")
		}
		return app, nil
	})
	if err != nil {
		return nil, err
	}
	return &WriteKeys{set: set}, nil
}

// AppID returns the app that key belongs to, comparing in constant time.
func (w *WriteKeys) AppID(key string) (string, bool) { return w.set.Lookup(key) }

// Len is the number of configured keys.
func (w *WriteKeys) Len() int { return w.set.Len() }

// FromAuthorization extracts the key from an Authorization header value:
// "Bearer <key>", or "Basic base64(<key>:)" (the key as user name and an
// empty password, as Segment-style SDKs send it).
func FromAuthorization(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, rest != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok || pass != "" || user == "" {
			return "", false
		}
		return user, true
	default:
		return "", false
	}
}

// Authenticate returns the app of the key in an Authorization header value.
func (w *WriteKeys) Authenticate(header string) (string, bool) {
	key, ok := FromAuthorization(header)
	if !ok {
		return "", false
	}
	return w.AppID(key)
}
