package credentials

import (
	"errors"
	"strings"
	"testing"
)

func TestSet(t *testing.T) {
	var s Set[string]
	if err := s.Add("0123456789abcdef", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("fedcba9876543210", "b"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, secret string
		wantErr      bool
	}{
		{"too short", "short", true},
		{"duplicate", "0123456789abcdef", true},
	} {
		if err := s.Add(tt.secret, "x"); (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.name, err)
		}
	}
	lookups := []struct {
		secret string
		want   string
		ok     bool
	}{
		{"0123456789abcdef", "a", true},
		{"fedcba9876543210", "b", true},
		{"0123456789abcdeF", "", false},
		{"", "", false},
	}
	for _, tt := range lookups {
		if v, ok := s.Lookup(tt.secret); v != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v", tt.secret, v, ok)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len %d", s.Len())
	}
}

func TestFingerprintHidesSecret(t *testing.T) {
	fp := Fingerprint("token", "0123456789abcdef")
	if fp != Fingerprint("token", "0123456789abcdef") || fp == Fingerprint("token", "fedcba9876543210") || len(fp) != len("token-")+8 {
		t.Fatalf("fingerprint %q", fp)
	}
}

func TestParseList(t *testing.T) {
	const secret = "0123456789abcdef"
	upper := func(_, rest string) (string, error) {
		if rest == "bad" {
			return "", errors.New("refused")
		}
		return strings.ToUpper(rest), nil
	}
	tests := []struct {
		name, spec string
		wantLen    int
		wantErr    string
	}{
		{"two, blanks and spaces skipped", " " + secret + ":a , ,fedcba9876543210:b,", 2, ""},
		{"empty", " , ", 0, "no secrets configured"},
		{"no colon", "fedcba9876543210:a," + secret, 0, "secret #2: want s:g"},
		{"grant refuses", secret + ":bad", 0, "secret #1: refused"},
		{"too short", "short:a", 0, "secret #1: secrets must be at least 16 characters"},
		{"twice", secret + ":a," + secret + ":b", 0, "secret #2: secret listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseList(tt.spec, "secret", "s:g", upper)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q shows the secret", err)
				}
				return
			}
			if err != nil || set.Len() != tt.wantLen {
				t.Fatalf("len %v, err %v; want %d", set, err, tt.wantLen)
			}
			if v, ok := set.Lookup(secret); !ok || v != "A" {
				t.Errorf("Lookup = %q, %v; want A", v, ok)
			}
		})
	}
}
