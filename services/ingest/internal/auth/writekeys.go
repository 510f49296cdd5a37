// Package auth maps write keys to the apps they belong to.
package auth

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/evtrack/telemetry/platform/appid"
	"github.com/evtrack/telemetry/platform/credentials"
)

// WriteKeys is the set of accepted write keys, each granting one app id.
type WriteKeys struct {
	set credentials.Set[string]
}

// ParseWriteKeys reads "key1:app-ios,key2:app-android". Keys must be at least
// 16 characters; an app may have several keys (rotation).
func ParseWriteKeys(spec string) (*WriteKeys, error) {
	wk := &WriteKeys{}
	for i, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		key, app, ok := strings.Cut(pair, ":")
		if !ok {
			return nil, fmt.Errorf("write key #%d: want key:app_id", i+1)
		}
		key, app = strings.TrimSpace(key), strings.TrimSpace(app)
		// Errors name the entry by its number, never by a value: written
		// the wrong way round (app:key), the "app id" is the key.
		if appid.Validate(app) != nil {
			return nil, fmt.Errorf("write key #%d: the app id after the colon must be 1-64 letters, digits, '-' or '_' (not shown: it may be a key written first)", i+1)
		}
		if err := wk.set.Add(key, app); err != nil {
			return nil, fmt.Errorf("write key #%d: %w", i+1, err)
		}
	}
	if wk.set.Len() == 0 {
		return nil, fmt.Errorf("no write keys configured")
	}
	return wk, nil
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
