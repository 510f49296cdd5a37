package search

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// MinPageTokenKeyLen is the shortest page-token signing key accepted (bytes).
const MinPageTokenKeyLen = 32

// maxPageTokenLen bounds a token before it is decoded.
const maxPageTokenLen = 4096

// Cursor is the position after the last event of a page, on the total order
// (timestamp desc, doc_id desc) that pages are cut from.
type Cursor struct {
	TimestampMillis int64  `json:"t"`
	DocID           string `json:"d"`
}

// KeyRing is the page-token signing keys: Current signs every new token;
// a token signed by Current or by one of Previous is accepted, so keys can
// be rotated without breaking the pages clients are walking through. Its
// String and GoString never show the keys.
type KeyRing struct {
	Current  []byte
	Previous [][]byte
}

// String describes the ring without revealing a key.
func (k KeyRing) String() string {
	return fmt.Sprintf("KeyRing{current: redacted, previous: %d redacted}", len(k.Previous))
}

// GoString is String, so %#v does not print the keys either.
func (k KeyRing) GoString() string { return k.String() }

// Validate checks every key's length and that no key is listed twice.
func (k KeyRing) Validate() error {
	keys := append([][]byte{k.Current}, k.Previous...)
	for i, key := range keys {
		if len(key) < MinPageTokenKeyLen {
			if i == 0 {
				return fmt.Errorf("current page token key: at least %d bytes, got %d", MinPageTokenKeyLen, len(key))
			}
			return fmt.Errorf("previous page token key #%d: at least %d bytes, got %d", i, MinPageTokenKeyLen, len(key))
		}
		for _, other := range keys[:i] {
			if hmac.Equal(key, other) {
				return errors.New("a page token key is listed twice")
			}
		}
	}
	return nil
}

// PageTokens seals cursors into opaque tokens. A token is signed with HMAC-
// SHA256 and bound to the query it came from, so a tampered token, or one
// replayed against different filters (another user, another app), is refused.
type PageTokens struct {
	keys KeyRing
}

// NewPageTokens returns a sealer signing with keys.Current and accepting
// tokens of every key in the ring.
func NewPageTokens(keys KeyRing) (*PageTokens, error) {
	if err := keys.Validate(); err != nil {
		return nil, err
	}
	return &PageTokens{keys: KeyRing{Current: bytes.Clone(keys.Current), Previous: cloneAll(keys.Previous)}}, nil
}

func cloneAll(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

type tokenBody struct {
	Cursor
	Query []byte `json:"q"` // hash of the query's filters
}

// Why a page token is refused. The messages reach the caller (after
// "page_token: "), so they say what is wrong without echoing the token.
var (
	errTokenMalformed  = errors.New("malformed page token")
	errTokenSignature  = errors.New("page token signature does not match: the token was altered, or signed with a key this service no longer accepts")
	errTokenOtherQuery = errors.New("page token belongs to another query: use it with the filters of the call that returned it")
)

// Seal returns the token for c within the query whose fingerprint is fp,
// signed with the current key.
func (p *PageTokens) Seal(c Cursor, fp []byte) string {
	body, _ := json.Marshal(tokenBody{Cursor: c, Query: fp})
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(sign(p.keys.Current, body))
}

// Open checks tok and returns its cursor; fp must be the fingerprint of the
// query it is used with. The signature is checked against every key of the
// ring (each in constant time) before the body is parsed.
func (p *PageTokens) Open(tok string, fp []byte) (Cursor, error) {
	if len(tok) > maxPageTokenLen {
		return Cursor{}, errTokenMalformed
	}
	b64body, b64mac, ok := bytes.Cut([]byte(tok), []byte("."))
	if !ok {
		return Cursor{}, errTokenMalformed
	}
	body, err1 := base64.RawURLEncoding.DecodeString(string(b64body))
	sum, err2 := base64.RawURLEncoding.DecodeString(string(b64mac))
	if err1 != nil || err2 != nil || len(body) == 0 {
		return Cursor{}, errTokenMalformed
	}
	valid := hmac.Equal(sum, sign(p.keys.Current, body))
	for _, k := range p.keys.Previous {
		valid = hmac.Equal(sum, sign(k, body)) || valid
	}
	if !valid {
		return Cursor{}, errTokenSignature
	}
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return Cursor{}, errTokenMalformed
	}
	if !hmac.Equal(tb.Query, fp) {
		return Cursor{}, errTokenOtherQuery
	}
	return tb.Cursor, nil
}

func sign(key, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return mac.Sum(nil)
}
