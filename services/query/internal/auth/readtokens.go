// Package auth maps read tokens to the apps they may read.
package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/evtrack/telemetry/platform/appid"
	"github.com/evtrack/telemetry/platform/credentials"
)

// Principal is an authenticated reader.
type Principal struct {
	// Name identifies the token in audit lines without revealing it.
	Name string
	// AllApps: the token may read every app; otherwise only Apps.
	AllApps bool
	Apps    []string
	// CanDelete: the token may delete people's data (and read the
	// deletion jobs) in its apps. Only tokens given the delete
	// permission explicitly have it.
	CanDelete bool
}

// PermissionDelete is the permission that allows deleting a person's data.
const PermissionDelete = "delete"

// CanRead reports whether p may read app.
func (p Principal) CanRead(app string) bool {
	return p.AllApps || slices.Contains(p.Apps, app)
}

// ReadTokens is the set of accepted read tokens.
type ReadTokens struct {
	set *credentials.Set[Principal]
}

// ParseReadTokens reads "token1:app-ios|app-android,token2:*,token3:app-ios:delete".
// Tokens must be at least 16 characters. A third part lists permissions
// beyond reading ("+"-separated); the only one is "delete".
func ParseReadTokens(spec string) (*ReadTokens, error) {
	set, err := credentials.ParseList(spec, "read token", "token:app1|app2 or token:*", func(tok, scope string) (Principal, error) {
		p := Principal{Name: credentials.Fingerprint("token", tok)}
		if apps, perms, ok := strings.Cut(scope, ":"); ok {
			scope = apps
			for _, perm := range strings.Split(perms, "+") {
				switch strings.TrimSpace(perm) {
				case PermissionDelete:
					p.CanDelete = true
				default:
					return p, fmt.Errorf("unknown permission after the second colon (known: %s; not shown: it may be a secret)", PermissionDelete)
				}
			}
		}
		for _, app := range strings.Split(scope, "|") {
			app = strings.TrimSpace(app)
			if app == "*" {
				p.AllApps = true
				continue
			}
			// Never the value in the error: written the wrong way round
			// (app:token), the "app id" is the token.
			if appid.Validate(app) != nil {
				return p, errors.New("each app id after the colon must be 1-64 letters, digits, '-' or '_', or * (not shown: it may be a token written first)")
			}
			p.Apps = append(p.Apps, app)
		}
		if p.AllApps && len(p.Apps) > 0 {
			return p, errors.New("* already covers every app")
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return &ReadTokens{set: set}, nil
}

// Principal returns who tok belongs to, comparing in constant time.
func (r *ReadTokens) Principal(tok string) (Principal, bool) { return r.set.Lookup(tok) }
