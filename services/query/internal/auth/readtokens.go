// Package auth maps read tokens to the apps they may read.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var validAppID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Principal is an authenticated reader.
type Principal struct {
	// Name identifies the token in audit lines without revealing it: the
	// first 8 hex digits of its SHA-256.
	Name string
	// AllApps: the token may read every app; otherwise only Apps.
	AllApps bool
	Apps    []string
}

// CanRead reports whether p may read app.
func (p Principal) CanRead(app string) bool {
	return p.AllApps || slices.Contains(p.Apps, app)
}

type token struct {
	digest    [sha256.Size]byte
	principal Principal
}

// ReadTokens is the set of accepted read tokens, kept as SHA-256 digests and
// compared in constant time against every configured token.
type ReadTokens struct {
	tokens []token
}

// ParseReadTokens reads "token1:app-ios|app-android,token2:*". Tokens must be
// at least 16 characters.
func ParseReadTokens(spec string) (*ReadTokens, error) {
	rt := &ReadTokens{}
	for i, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		tok, scope, ok := strings.Cut(pair, ":")
		if !ok {
			return nil, fmt.Errorf("read token #%d: want token:app1|app2 or token:*", i+1)
		}
		tok = strings.TrimSpace(tok)
		if len(tok) < 16 {
			return nil, fmt.Errorf("read token #%d: tokens must be at least 16 characters", i+1)
		}
		d := sha256.Sum256([]byte(tok))
		p := Principal{Name: fmt.Sprintf("token-%x", d[:4])}
		for _, app := range strings.Split(scope, "|") {
			app = strings.TrimSpace(app)
			switch {
			case app == "*":
				p.AllApps = true
			case validAppID.MatchString(app):
				p.Apps = append(p.Apps, app)
			default:
				return nil, fmt.Errorf("read token #%d: app %q: want 1-64 letters, digits, '-' or '_', or *", i+1, app)
			}
		}
		if p.AllApps && len(p.Apps) > 0 {
			return nil, fmt.Errorf("read token #%d: * already covers every app", i+1)
		}
		for _, t := range rt.tokens {
			if t.digest == d {
				return nil, fmt.Errorf("read token #%d: token listed twice", i+1)
			}
		}
		rt.tokens = append(rt.tokens, token{digest: d, principal: p})
	}
	if len(rt.tokens) == 0 {
		return nil, fmt.Errorf("no read tokens configured")
	}
	return rt, nil
}

// Principal returns who tok belongs to.
func (r *ReadTokens) Principal(tok string) (Principal, bool) {
	d := sha256.Sum256([]byte(tok))
	var p Principal
	found := 0
	for _, t := range r.tokens {
		eq := subtle.ConstantTimeCompare(d[:], t.digest[:])
		if eq == 1 {
			p = t.principal
		}
		found |= eq
	}
	return p, found == 1
}

// Len is the number of configured tokens.
func (r *ReadTokens) Len() int { return len(r.tokens) }
