package search

import (
	"strings"
	"testing"
)

func TestPageTokens(t *testing.T) {
	pt, err := NewPageTokens([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewPageTokens([]byte(strings.Repeat("x", 32)))
	fp := fingerprint(Filters{UserID: "u1"})
	c := Cursor{TimestampMillis: 1764151200000, DocID: "abc"}
	tok := pt.Seal(c, fp)

	got, err := pt.Open(tok, fp)
	if err != nil || got != c {
		t.Fatalf("Open = %v, %v", got, err)
	}
	body, mac, _ := strings.Cut(tok, ".")
	tests := []struct {
		name string
		tok  string
		fp   []byte
		pt   *PageTokens
	}{
		{"other query", tok, fingerprint(Filters{UserID: "u2"}), pt},
		{"other scope", tok, fingerprint(Filters{UserID: "u1", Apps: []string{"a"}}), pt},
		{"other text query", tok, fingerprint(Filters{UserID: "u1", Q: "crash"}), pt},
		{"other key", tok, fp, other},
		{"garbage", "not-a-token", fp, pt},
		{"flipped body", "A" + body[1:] + "." + mac, fp, pt},
		{"no mac", body + ".", fp, pt},
		{"huge", strings.Repeat("a", 5000) + "." + mac, fp, pt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.pt.Open(tt.tok, tt.fp); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := NewPageTokens([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
