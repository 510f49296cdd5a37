package opensearchx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestBulkBody: each action is one line naming its index and id, followed
// by its document on the next line (none for delete); every line ends in a
// newline, as _bulk requires.
func TestBulkBody(t *testing.T) {
	tests := []struct {
		name  string
		build func(*BulkBody)
		want  string
	}{
		{"empty", func(*BulkBody) {}, ""},
		{"create", func(b *BulkBody) { b.Create("p-2026.11.26", "dAYx", []byte(`{"a":1}`)) },
			"{\"create\":{\"_index\":\"p-2026.11.26\",\"_id\":\"dAYx\"}}\n{\"a\":1}\n"},
		{"index without id", func(b *BulkBody) { b.Index("p", "", []byte(`{}`)) },
			"{\"index\":{\"_index\":\"p\"}}\n{}\n"},
		{"delete", func(b *BulkBody) { b.Delete("deadletter-p", "x") },
			"{\"delete\":{\"_index\":\"deadletter-p\",\"_id\":\"x\"}}\n"},
		{"id needing escapes", func(b *BulkBody) { b.Create("p", "a\"b\n", []byte(`{}`)) },
			"{\"create\":{\"_index\":\"p\",\"_id\":\"a\\\"b\\n\"}}\n{}\n"},
		{"several", func(b *BulkBody) {
			b.Grow(100)
			b.Create("p", "1", []byte(`{"n":1}`))
			b.Delete("q", "2")
			b.Index("r", "3", []byte(`{"n":3}`))
		}, "{\"create\":{\"_index\":\"p\",\"_id\":\"1\"}}\n{\"n\":1}\n{\"delete\":{\"_index\":\"q\",\"_id\":\"2\"}}\n" +
			"{\"index\":{\"_index\":\"r\",\"_id\":\"3\"}}\n{\"n\":3}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b BulkBody
			tt.build(&b)
			if got := string(b.Bytes()); got != tt.want {
				t.Fatalf("body\n%q\nwant\n%q", got, tt.want)
			}
			if b.Len() != len(tt.want) || b.Actions() != strings.Count(tt.want, `{"create"`)+strings.Count(tt.want, `{"index"`)+strings.Count(tt.want, `{"delete"`) {
				t.Fatalf("Len %d, Actions %d", b.Len(), b.Actions())
			}
			b.Reset()
			if b.Len() != 0 || b.Actions() != 0 {
				t.Fatalf("after Reset: Len %d, Actions %d", b.Len(), b.Actions())
			}
		})
	}
}

// TestBulkReadsItems: answers as OpenSearch writes them (filtered as Bulk
// asks), and what Bulk makes of them.
func TestBulkReadsItems(t *testing.T) {
	tests := []struct {
		name    string
		actions int
		status  int
		answer  string
		want    []BulkItem
		wantErr string // substring; "" for none
	}{
		{"every document created", 2, 200, `{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`,
			[]BulkItem{{Status: 201}, {Status: 201}}, ""},
		{"created, exists, refused", 3, 200, `{"errors":true,"items":[{"create":{"status":201}},` +
			`{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict"}}},` +
			`{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}}]}`,
			[]BulkItem{{Status: 201}, {Status: 409, ErrorType: "version_conflict_engine_exception", Reason: "[1]: version conflict"},
				{Status: 400, ErrorType: "mapper_parsing_exception", Reason: "failed to parse field [n]"}}, ""},
		{"delete and index", 2, 200, `{"errors":false,"items":[{"delete":{"status":200}},{"index":{"status":200}}]}`,
			[]BulkItem{{Status: 200}, {Status: 200}}, ""},
		{"fewer items than actions", 3, 200, `{"errors":false,"items":[{"create":{"status":201}}]}`, nil, "1 items for 3 actions"},
		{"not JSON", 1, 200, `<html>`, nil, "decode"},
		{"too large, as a proxy says", 1, 413, `<html>413</html>`, nil, "status 413"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body BulkBody
			for i := range tt.actions {
				body.Create("p", fmt.Sprint(i), []byte(`{}`))
			}
			var sent string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				sent = r.Method + " " + r.URL.Path + "\n" + string(b)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}))
			t.Cleanup(srv.Close)
			got, err := Bulk(context.Background(), newClient(t, srv.URL), &body)
			if want := "POST /_bulk\n" + string(body.Bytes()); sent != want {
				t.Errorf("sent %q, want %q", sent, want)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Bulk = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestBulkAllReportsFailures: BulkAll is nil only when every action was
// applied.
func TestBulkAllReportsFailures(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		status       int
		ok           bool
	}{
		{"all applied", `{"errors":false}`, 200, true},
		{"one failed", `{"errors":true,"items":[{"index":{"error":{"type":"mapper_parsing_exception","reason":"r"}}}]}`, 200, false},
		{"unavailable", `{"error":{"type":"rejected_execution_exception"}}`, 429, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := answering(t, tc.status, tc.answer)
			var body BulkBody
			body.Index("p", "1", []byte(`{}`))
			body.Index("p", "2", []byte(`{}`))
			err := BulkAll(context.Background(), newClient(t, url), &body)
			if (err == nil) != tc.ok {
				t.Fatalf("BulkAll: %v, want ok=%v", err, tc.ok)
			}
			if tc.status == 429 && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("a 429: %v, want ErrUnavailable", err)
			}
			if !tc.ok && tc.status == 200 && !strings.Contains(err.Error(), "1 of 2 actions failed, the first with mapper_parsing_exception: r") {
				t.Fatalf("error %q does not say which failed", err)
			}
		})
	}
}
