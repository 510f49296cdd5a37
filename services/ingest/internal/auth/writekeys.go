// Package auth maps write keys to the apps they belong to.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"regexp"
	"strings"
)

var validAppID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateAppID checks that id is usable as a NATS subject token and an
// OpenSearch keyword: letters, digits, '-' and '_', at most 64.
func ValidateAppID(id string) error {
	if !validAppID.MatchString(id) {
		return fmt.Errorf("app id %q: want 1-64 letters, digits, '-' or '_'", id)
	}
	return nil
}

type writeKey struct {
	digest [sha256.Size]byte
	appID  string
}

// WriteKeys is the set of accepted write keys. Keys are kept only as SHA-256
// digests, and a lookup compares against every key in constant time, so
// neither the response time nor a memory dump reveals a key.
type WriteKeys struct {
	keys []writeKey
}

// ParseWriteKeys reads "key1:app-ios,key2:app-android". Keys must be at least
// 16 characters; an app may have several keys (rotation).
func ParseWriteKeys(spec string) (*WriteKeys, error) {
	wk := &WriteKeys{}
	seen := map[[sha256.Size]byte]bool{}
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
		if len(key) < 16 {
			return nil, fmt.Errorf("write key #%d (app %s): keys must be at least 16 characters", i+1, app)
		}
		if err := ValidateAppID(app); err != nil {
			return nil, fmt.Errorf("write key #%d: %w", i+1, err)
		}
		d := sha256.Sum256([]byte(key))
		if seen[d] {
			return nil, fmt.Errorf("write key #%d (app %s): key listed twice", i+1, app)
		}
		seen[d] = true
		wk.keys = append(wk.keys, writeKey{digest: d, appID: app})
	}
	if len(wk.keys) == 0 {
		return nil, fmt.Errorf("no write keys configured")
	}
	return wk, nil
}

// AppID returns the app that key belongs to. Every configured key is compared,
// whether or not an earlier one matched.
func (w *WriteKeys) AppID(key string) (string, bool) {
	d := sha256.Sum256([]byte(key))
	app, found := "", 0
	for _, k := range w.keys {
		eq := subtle.ConstantTimeCompare(d[:], k.digest[:])
		if eq == 1 {
			app = k.appID
		}
		found |= eq
	}
	return app, found == 1
}

// Len is the number of configured keys.
func (w *WriteKeys) Len() int { return len(w.keys) }
