package auth

import (
	"strings"
	"testing"
)

func TestParseWriteKeys(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		wantLen int
		wantErr bool
	}{
		{"one", "0123456789abcdef:app-ios", 1, false},
		{"two with spaces", " 0123456789abcdef:app-ios , fedcba9876543210:app_android ", 2, false},
		{"rotation: two keys one app", "0123456789abcdef:app,0123456789abcdeg:app", 2, false},
		{"empty", "", 0, true},
		{"no colon", "0123456789abcdef", 0, true},
		{"short key", "short:app", 0, true},
		{"bad app id", "0123456789abcdef:app.ios", 0, true},
		{"app id with subject wildcard", "0123456789abcdef:app>", 0, true},
		{"duplicate key", "0123456789abcdef:a,0123456789abcdef:b", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wk, err := ParseWriteKeys(tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && wk.Len() != tt.wantLen {
				t.Fatalf("len %d, want %d", wk.Len(), tt.wantLen)
			}
		})
	}
}

func TestAppID(t *testing.T) {
	wk, err := ParseWriteKeys("0123456789abcdef:app-ios,fedcba9876543210:app-android")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key     string
		wantApp string
		wantOK  bool
	}{
		{"0123456789abcdef", "app-ios", true},
		{"fedcba9876543210", "app-android", true},
		{"0123456789abcdeF", "", false},
		{"", "", false},
		{"0123456789abcdef ", "", false},
	}
	for _, tt := range tests {
		app, ok := wk.AppID(tt.key)
		if app != tt.wantApp || ok != tt.wantOK {
			t.Errorf("AppID(%q) = %q, %v; want %q, %v", tt.key, app, ok, tt.wantApp, tt.wantOK)
		}
	}
}

// TestParseWriteKeysNeverEchoesASecret: a configuration error (printed at
// start, into the container's log) names the entry, never a value that may
// be a key — written the wrong way round, the "app id" is the key. Before,
// both errors below quoted it.
func TestParseWriteKeysNeverEchoesASecret(t *testing.T) {
	const secret = "q8Xw+2pL/9zR4tYv7bNm1kS3="
	for _, spec := range []string{
		"demo-app:" + secret,                        // app:key
		secret + "x:demo-app," + secret + "x:other", // a key listed twice
		"4f9a1c0e:" + secret[:8],                    // a short key, swapped: its "app" shown before
	} {
		_, err := ParseWriteKeys(spec)
		if err == nil {
			t.Fatalf("%q: accepted", spec)
		}
		for _, part := range []string{secret, secret[:8], "4f9a1c0e"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("%q: the error %q shows %q", spec, err, part)
			}
		}
	}
}
