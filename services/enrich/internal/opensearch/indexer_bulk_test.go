package opensearch

import (
	"encoding/json"
	"testing"
)

func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "telemetry-events-2026.11.26", "dAYxzPGx1boKigZFOq3zCg", "a\"b", `back\slash`, "tab\there", "é🚀", "\xff", "<&>"} {
		// Valid JSON that decodes to what encoding/json's encoding decodes to.
		var got, want string
		b := appendQuoted([]byte("x"), s)
		m, _ := json.Marshal(s)
		if b[0] != 'x' || json.Unmarshal(b[1:], &got) != nil || json.Unmarshal(m, &want) != nil || got != want {
			t.Errorf("appendQuoted(%q) = %s, want the JSON string %s", s, b, m)
		}
	}
}
