package search

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// Cursor is the position after the last event of a page, on the total order
// (timestamp desc, doc_id desc) that pages are cut from.
type Cursor struct {
	TimestampMillis int64  `json:"t"`
	DocID           string `json:"d"`
}

// PageTokens seals cursors into opaque tokens. A token is signed with HMAC-
// SHA256 and bound to the query it came from, so a tampered token, or one
// replayed against different filters (another user, another app), is refused.
type PageTokens struct {
	key []byte
}

// NewPageTokens returns a sealer using key (at least 32 bytes).
func NewPageTokens(key []byte) (*PageTokens, error) {
	if len(key) < 32 {
		return nil, errors.New("page token key must be at least 32 bytes")
	}
	return &PageTokens{key: key}, nil
}

type tokenBody struct {
	Cursor
	Query []byte `json:"q"` // hash of the query's filters
}

var errBadToken = errors.New("page token is invalid or does not belong to this query")

// Seal returns the token for c within the query whose fingerprint is fp.
func (p *PageTokens) Seal(c Cursor, fp []byte) string {
	body, _ := json.Marshal(tokenBody{Cursor: c, Query: fp})
	mac := hmac.New(sha256.New, p.key)
	mac.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Open checks tok and returns its cursor; fp must be the fingerprint of the
// query it is used with.
func (p *PageTokens) Open(tok string, fp []byte) (Cursor, error) {
	b64body, b64mac, ok := bytes.Cut([]byte(tok), []byte("."))
	if !ok || len(tok) > 4096 {
		return Cursor{}, errBadToken
	}
	body, err1 := base64.RawURLEncoding.DecodeString(string(b64body))
	sum, err2 := base64.RawURLEncoding.DecodeString(string(b64mac))
	if err1 != nil || err2 != nil {
		return Cursor{}, errBadToken
	}
	mac := hmac.New(sha256.New, p.key)
	mac.Write(body)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return Cursor{}, errBadToken
	}
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil || !hmac.Equal(tb.Query, fp) {
		return Cursor{}, errBadToken
	}
	return tb.Cursor, nil
}
