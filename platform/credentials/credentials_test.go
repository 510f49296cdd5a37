package credentials

import "testing"

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
