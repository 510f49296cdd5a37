// Package pseudonym replaces identifiers with keyed hashes: the same
// identifier under the same key always gives the same pseudonym, so a user
// keeps one pseudonym across events, apps and days, while nobody without
// the key can compute it from a guessed identifier (as anyone could with a
// plain hash).
//
// A pseudonym is "p1:" followed by the first 16 bytes (128 bits) of
// HMAC-SHA256(key, identifier), base64url without padding: 25 characters,
// e.g. "p1:3q2-7wAAAAAAAAAAAAAAAA". The prefix says the value is a
// pseudonym, of this scheme's version 1. enrich writes them; the query
// service computes the same value from an identifier a caller searches for.
package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
)

const (
	// Prefix starts every pseudonym.
	Prefix = "p1:"
	// MinKeyLen is the shortest key accepted, in bytes.
	MinKeyLen = 32
	// hashBytes is how much of the HMAC a pseudonym keeps.
	hashBytes = 16
	// Len is the length of a pseudonym in characters.
	Len = len(Prefix) + (hashBytes*8+5)/6
)

// Fields returns the document fields that may be pseudonymised: the
// identifiers of a person, a device or a session.
func Fields() []string { return []string{"user_id", "anonymous_id", "session_id"} }

// CheckFields returns an error naming the first of fields that may not be
// pseudonymised.
func CheckFields(fields []string) error {
	for _, f := range fields {
		if !slices.Contains(Fields(), f) {
			return fmt.Errorf("%q cannot be pseudonymised (one of %s)", f, strings.Join(Fields(), ", "))
		}
	}
	return nil
}

// Key is a pseudonymisation key. Its String never shows the key.
type Key struct {
	b []byte
}

// ParseKey decodes a hex key of at least MinKeyLen bytes. Its error never
// quotes the key.
func ParseKey(s string) (Key, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return Key{}, errors.New("not hex")
	}
	if len(b) < MinKeyLen {
		return Key{}, fmt.Errorf("%d bytes, want at least %d (e.g. openssl rand -hex 32)", len(b), MinKeyLen)
	}
	return Key{b: b}, nil
}

// IsZero reports whether k holds no key.
func (k Key) IsZero() bool { return len(k.b) == 0 }

// String implements fmt.Stringer without revealing the key.
func (k Key) String() string {
	if k.IsZero() {
		return "(none)"
	}
	return "(redacted)"
}

// GoString implements fmt.GoStringer (%#v) without revealing the key.
func (k Key) GoString() string { return "pseudonym.Key" + k.String() }

// Of returns the pseudonym of id under k. An empty id stays empty (a field
// that was not set stays unset).
func (k Key) Of(id string) string { return k.NewHasher().Of(id) }

// Hasher computes pseudonyms under one key, reusing its HMAC state and
// remembering the last id (the events of a batch mostly share their ids).
// It is not safe for concurrent use.
type Hasher struct {
	mac      hash.Hash
	sum      [sha256.Size]byte
	last, ps string
}

// NewHasher returns a Hasher for k.
func (k Key) NewHasher() *Hasher { return &Hasher{mac: hmac.New(sha256.New, k.b)} }

// Of returns the pseudonym of id, as Key.Of does.
func (h *Hasher) Of(id string) string {
	if id == "" {
		return ""
	}
	if id == h.last && h.ps != "" {
		return h.ps
	}
	h.mac.Reset()
	h.mac.Write([]byte(id))
	sum := h.mac.Sum(h.sum[:0])
	var buf [Len]byte
	h.last, h.ps = id, string(base64.RawURLEncoding.AppendEncode(append(buf[:0], Prefix...), sum[:hashBytes]))
	return h.ps
}

// Is reports whether s has the form of a pseudonym (it may still be an
// identifier that happens to look like one).
func Is(s string) bool {
	if len(s) != Len || !strings.HasPrefix(s, Prefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(Prefix):])
	return err == nil
}

// Ring is the current key and the keys used before a rotation.
type Ring struct {
	Current  Key
	Previous []Key
}

// Candidates returns every stored value that may stand for id: id itself
// (events indexed before pseudonymisation was switched on, or a pseudonym
// a caller copied from a result), then its pseudonym under the current key
// and under each previous one (events indexed before a rotation). Empty
// for an empty id.
func (r Ring) Candidates(id string) []string {
	if id == "" {
		return nil
	}
	out := make([]string, 0, 2+len(r.Previous))
	out = append(out, id)
	for _, k := range append([]Key{r.Current}, r.Previous...) {
		if !k.IsZero() {
			out = append(out, k.Of(id))
		}
	}
	return out
}
