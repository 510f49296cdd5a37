package pseudonym

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var (
	hexKeyA = strings.Repeat("a1", 32)
	hexKeyB = strings.Repeat("b2", 32)
)

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	return k
}

func TestParseKey(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"32 bytes", hexKeyA, true},
		{"64 bytes", hexKeyA + hexKeyB, true},
		{"surrounding space", " " + hexKeyA + "\n", true},
		{"31 bytes", hexKeyA[:62], false},
		{"empty", "", false},
		{"not hex", strings.Repeat("zz", 32), false},
		{"odd length", hexKeyA + "a", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseKey(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) && tt.in != "" {
				t.Errorf("error %q quotes the key", err)
			}
			if tt.ok && k.IsZero() {
				t.Error("key is zero")
			}
		})
	}
}

func TestOf(t *testing.T) {
	a, b := mustKey(t, hexKeyA), mustKey(t, hexKeyB)
	raw := []byte(strings.Repeat("\xa1", 32))
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("user-1"))
	want := "p1:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])

	for _, tt := range []struct {
		name string
		got  string
		want string
	}{
		{"HMAC-SHA256, first 16 bytes, base64url", a.Of("user-1"), want},
		{"stable", a.Of("user-1"), a.Of("user-1")},
		{"empty stays empty", a.Of(""), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if a.Of("user-1") == a.Of("user-2") {
		t.Error("two ids, one pseudonym")
	}
	if a.Of("user-1") == b.Of("user-1") {
		t.Error("two keys, one pseudonym")
	}
	if p := a.Of("user-1"); len(p) != Len || !Is(p) {
		t.Errorf("pseudonym %q: length %d (want %d), Is %v", p, len(p), Len, Is(p))
	}
}

func TestIs(t *testing.T) {
	k := mustKey(t, hexKeyA)
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{k.Of("x"), true},
		{"user-1", false},
		{"p1:short", false},
		{"p2:" + k.Of("x")[3:], false},
		{"p1:" + strings.Repeat("!", Len-3), false},
	} {
		if got := Is(tt.in); got != tt.want {
			t.Errorf("Is(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestKeyNeverPrints(t *testing.T) {
	k := mustKey(t, hexKeyA)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %s", k, k, k), fmt.Sprintf("%#v", Ring{Current: k})} {
		if strings.Contains(s, hexKeyA[:8]) || strings.Contains(s, "\xa1") || strings.Contains(s, "161") || strings.Contains(s, "0xa1") {
			t.Errorf("printed key: %q", s)
		}
	}
}

func TestCandidates(t *testing.T) {
	a, b := mustKey(t, hexKeyA), mustKey(t, hexKeyB)
	for _, tt := range []struct {
		name string
		ring Ring
		id   string
		want []string
	}{
		{"current only", Ring{Current: a}, "u", []string{"u", a.Of("u")}},
		{"after a rotation", Ring{Current: b, Previous: []Key{a}}, "u", []string{"u", b.Of("u"), a.Of("u")}},
		{"empty id", Ring{Current: a}, "", nil},
		{"no key", Ring{}, "u", []string{"u"}},
	} {
		if got := tt.ring.Candidates(tt.id); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Candidates = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestHasher: a reused Hasher gives Key.Of's pseudonyms, for repeated and
// alternating ids alike.
func TestHasher(t *testing.T) {
	k := mustKey(t, hexKeyA)
	h := k.NewHasher()
	for _, id := range []string{"u1", "u1", "u2", "u1", "", "u2", "u2"} {
		if got, want := h.Of(id), k.Of(id); got != want {
			t.Errorf("Hasher.Of(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestCheckFields(t *testing.T) {
	for _, tt := range []struct {
		fields []string
		ok     bool
	}{
		{nil, true}, {[]string{"user_id"}, true}, {Fields(), true},
		{[]string{"user_id", "event_id"}, false}, {[]string{"User_ID"}, false},
	} {
		if err := CheckFields(tt.fields); (err == nil) != tt.ok {
			t.Errorf("CheckFields(%q) = %v, want ok %v", tt.fields, err, tt.ok)
		}
	}
}
