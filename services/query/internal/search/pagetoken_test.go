package search

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func key(c byte) []byte { return []byte(strings.Repeat(string(c), MinPageTokenKeyLen)) }

func mustPageTokens(t *testing.T, keys KeyRing) *PageTokens {
	t.Helper()
	pt, err := NewPageTokens(keys)
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestPageTokens(t *testing.T) {
	pt := mustPageTokens(t, KeyRing{Current: key('k')})
	other := mustPageTokens(t, KeyRing{Current: key('x')})
	fp := fingerprint(Filters{UserID: "u1"})
	c := Cursor{TimestampMillis: 1764151200000, DocID: "abc"}
	tok := pt.Seal(c, fp)

	got, err := pt.Open(tok, fp)
	if err != nil || got != c {
		t.Fatalf("Open = %v, %v", got, err)
	}
	body, mac, _ := strings.Cut(tok, ".")
	sum, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		t.Fatal(err)
	}
	sum[0] ^= 1
	flipped := base64.RawURLEncoding.EncodeToString(sum)
	tests := []struct {
		name string
		tok  string
		fp   []byte
		pt   *PageTokens
		want error
	}{
		{"other query", tok, fingerprint(Filters{UserID: "u2"}), pt, errTokenOtherQuery},
		{"other scope", tok, fingerprint(Filters{UserID: "u1", Apps: []string{"a"}}), pt, errTokenOtherQuery},
		{"other text query", tok, fingerprint(Filters{UserID: "u1", Q: "crash"}), pt, errTokenOtherQuery},
		{"other key", tok, fp, other, errTokenSignature},
		{"tampered signature", body + "." + flipped, fp, pt, errTokenSignature},
		{"flipped body", "A" + body[1:] + "." + mac, fp, pt, errTokenSignature},
		{"garbage", "not-a-token", fp, pt, errTokenMalformed},
		{"no mac", body + ".", fp, pt, errTokenSignature},
		{"huge", strings.Repeat("a", 5000) + "." + mac, fp, pt, errTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.pt.Open(tt.tok, tt.fp); !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestPageTokenRotation: after a rotation (new current key, the old one
// listed as previous) tokens of either key are accepted and new tokens are
// signed with the new key only; once the old key is dropped its tokens are
// refused.
func TestPageTokenRotation(t *testing.T) {
	fp := fingerprint(Filters{UserID: "u1"})
	c := Cursor{TimestampMillis: 1764151200000, DocID: "abc"}
	before := mustPageTokens(t, KeyRing{Current: key('a')})
	rotated := mustPageTokens(t, KeyRing{Current: key('b'), Previous: [][]byte{key('a')}})
	after := mustPageTokens(t, KeyRing{Current: key('b')})

	old := before.Seal(c, fp)
	if got, err := rotated.Open(old, fp); err != nil || got != c {
		t.Fatalf("token of the previous key refused after rotation: %v %v", got, err)
	}
	fresh := rotated.Seal(c, fp)
	if _, err := after.Open(fresh, fp); err != nil {
		t.Fatalf("new token not signed with the current key: %v", err)
	}
	if _, err := before.Open(fresh, fp); !errors.Is(err, errTokenSignature) {
		t.Fatalf("new token signed with the previous key: %v", err)
	}
	if _, err := after.Open(old, fp); !errors.Is(err, errTokenSignature) {
		t.Fatalf("token of a dropped key accepted: %v", err)
	}
}

func TestKeyRingValidate(t *testing.T) {
	tests := []struct {
		name    string
		keys    KeyRing
		wantErr string
	}{
		{"current only", KeyRing{Current: key('a')}, ""},
		{"with previous", KeyRing{Current: key('a'), Previous: [][]byte{key('b'), key('c')}}, ""},
		{"no key", KeyRing{}, "current page token key"},
		{"short current", KeyRing{Current: []byte("short")}, "current page token key"},
		{"short previous", KeyRing{Current: key('a'), Previous: [][]byte{key('b'), []byte("short")}}, "previous page token key #2"},
		{"previous repeats current", KeyRing{Current: key('a'), Previous: [][]byte{key('a')}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPageTokens(tt.keys)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestKeyRingNeverPrinted: formatting a ring, or a struct holding one, never
// shows a key.
func TestKeyRingNeverPrinted(t *testing.T) {
	ring := KeyRing{Current: []byte("current-secret-key-0123456789abcdef"), Previous: [][]byte{[]byte("previous-secret-key-0123456789abcd")}}
	holder := struct{ Keys KeyRing }{ring}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{ring, holder, &holder} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, "secret") || strings.Contains(out, fmt.Sprint([]byte("current"))[1:10]) {
				t.Errorf("%s of %T shows a key: %s", format, v, out)
			}
		}
	}
}
