package auth

import (
	"strings"
	"testing"
)

func TestParseReadTokens(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		wantErr bool
	}{
		{"scoped", "0123456789abcdef:app-ios|app-android", false},
		{"all", "0123456789abcdef:*", false},
		{"two", "0123456789abcdef:*,fedcba9876543210:app", false},
		{"empty", "", true},
		{"short", "short:*", true},
		{"no scope", "0123456789abcdef", true},
		{"bad app", "0123456789abcdef:app ios", true},
		{"star and app", "0123456789abcdef:*|app", true},
		{"duplicate", "0123456789abcdef:a,0123456789abcdef:b", true},
		{"delete permission", "0123456789abcdef:app-ios:delete", false},
		{"delete permission, all apps", "0123456789abcdef:*:delete", false},
		{"unknown permission", "0123456789abcdef:app-ios:write", true},
		{"empty permission", "0123456789abcdef:app-ios:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseReadTokens(tt.spec); (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	rt, err := ParseReadTokens("0123456789abcdef:app-ios|app-android,fedcba9876543210:*")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := rt.Principal("0123456789abcdef")
	if !ok || p.AllApps || !p.CanRead("app-ios") || !p.CanRead("app-android") || p.CanRead("app-web") {
		t.Fatalf("scoped principal %+v", p)
	}
	p, ok = rt.Principal("fedcba9876543210")
	if !ok || !p.CanRead("anything") {
		t.Fatalf("all-apps principal %+v", p)
	}
	if _, ok := rt.Principal("0123456789abcdeX"); ok {
		t.Fatal("unknown token accepted")
	}
	if p.Name == "" || p.Name == "fedcba9876543210" {
		t.Fatalf("principal name %q must identify the token without revealing it", p.Name)
	}
}

func TestDeletePermissionIsExplicit(t *testing.T) {
	rt, err := ParseReadTokens("0123456789abcdef:*,fedcba9876543210:app-ios:delete")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := rt.Principal("0123456789abcdef"); p.CanDelete {
		t.Fatal("an all-apps read token may delete without the delete permission")
	}
	p, _ := rt.Principal("fedcba9876543210")
	if !p.CanDelete || !p.CanRead("app-ios") || p.CanRead("app-android") {
		t.Fatalf("delete token %+v: want delete in app-ios only", p)
	}
}

// TestParseReadTokensNeverEchoesASecret: a configuration error names the
// entry, never a value that may be a token (app:token written the wrong way
// round, or a token in the permission's place).
func TestParseReadTokensNeverEchoesASecret(t *testing.T) {
	const secret = "q8Xw+2pL/9zR4tYv7bNm1kS3="
	for _, spec := range []string{
		"app-ios:" + secret,
		"0123456789abcdef:app-ios:" + secret,
	} {
		_, err := ParseReadTokens(spec)
		if err == nil {
			t.Fatalf("%q: accepted", spec)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error %q shows the secret", spec, err)
		}
	}
}
