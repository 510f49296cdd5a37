// Package credentials holds shared secrets (write keys, read tokens) and finds
// what a presented secret grants without leaking it.
package credentials

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// MinLength is the shortest secret accepted.
const MinLength = 16

type entry[V any] struct {
	digest [sha256.Size]byte
	value  V
}

// Set maps secrets to what they grant. Secrets are kept only as SHA-256
// digests, and Lookup compares the presented secret with every entry in
// constant time, so neither timing nor a memory dump reveals a secret.
type Set[V any] struct {
	entries []entry[V]
}

// Add registers secret granting v.
func (s *Set[V]) Add(secret string, v V) error {
	if len(secret) < MinLength {
		return fmt.Errorf("secrets must be at least %d characters", MinLength)
	}
	d := sha256.Sum256([]byte(secret))
	for _, e := range s.entries {
		if e.digest == d {
			return errors.New("secret listed twice")
		}
	}
	s.entries = append(s.entries, entry[V]{digest: d, value: v})
	return nil
}

// Lookup returns what secret grants. Every entry is compared, whether or not
// an earlier one matched.
func (s *Set[V]) Lookup(secret string) (V, bool) {
	d := sha256.Sum256([]byte(secret))
	var v V
	found := 0
	for _, e := range s.entries {
		eq := subtle.ConstantTimeCompare(d[:], e.digest[:])
		if eq == 1 {
			v = e.value
		}
		found |= eq
	}
	return v, found == 1
}

// Len is the number of secrets.
func (s *Set[V]) Len() int { return len(s.entries) }

// ParseList reads a configured list, "secret1:grant1,secret2:grant2" (blank
// entries skipped, spaces around an entry and its secret trimmed), into a
// Set, grant turning each entry's secret and the rest after its first colon
// into what the secret grants. kind names the secrets in errors ("write
// key"), form the entry's expected form ("key:app_id"). Errors name an
// entry by its number, never by a value: written the wrong way round, the
// grant is the secret; grant's own errors must not show them either.
func ParseList[V any](spec, kind, form string, grant func(secret, rest string) (V, error)) (*Set[V], error) {
	set := &Set[V]{}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		secret, rest, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("%s #%d: want %s", kind, i+1, form)
		}
		secret = strings.TrimSpace(secret)
		v, err := grant(secret, rest)
		if err == nil {
			err = set.Add(secret, v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s #%d: %w", kind, i+1, err)
		}
	}
	if set.Len() == 0 {
		return nil, fmt.Errorf("no %ss configured", kind)
	}
	return set, nil
}

// Fingerprint names a secret in logs without revealing it: "<kind>-" and the
// first 8 hex digits of its SHA-256.
func Fingerprint(kind, secret string) string {
	d := sha256.Sum256([]byte(secret))
	return fmt.Sprintf("%s-%x", kind, d[:4])
}
