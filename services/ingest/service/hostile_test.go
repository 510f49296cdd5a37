package service

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestHostileInput replays bodies a buggy or hostile client could send. Each
// gets a clear 4xx, nothing is published, heap growth stays bounded, and the
// service still accepts a good batch afterwards.
func TestHostileInput(t *testing.T) {
	// Not parallel: it measures what the whole process allocates, so no
	// other test may run beside it (parallel tests wait for it to end).
	e := startIngest(t, "", nil)
	// A gzip bomb: 900 MiB of zeros in under 1 MiB; the decoder must stop at
	// 8 MiB of output.
	bomb := gzipBomb(t, 900<<20)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb is %d bytes; the test wants it under the 1 MiB wire limit", len(bomb))
	}
	// Over the wire limit after decompression only: 9 MiB of valid JSON.
	bigJSON := gz(t, []byte(`[`+strings.Repeat(`{"event_id":"x","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z","message":"`+strings.Repeat("m", 10<<10)+`"},`, 900)+event("last")+`]`))
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   string
	}{
		{"gzip bomb", request{encoding: "gzip", body: bomb}, 413, "body_too_large"},
		{"valid JSON over the decompressed limit", request{encoding: "gzip", body: bigJSON}, 413, "body_too_large"},
		{"deeply nested JSON", request{body: []byte(strings.Repeat("[", 500000) + strings.Repeat("]", 500000))}, 400, "invalid_json"},
		{"deeply nested metadata", request{body: []byte(`[{"event_id":"a","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z","metadata":{"k":` + strings.Repeat(`{"k":`, 10000) + `1` + strings.Repeat("}", 10000) + `}}]`)}, 400, "invalid_json"},
		{"invalid UTF-8 everywhere", request{body: []byte("[{\"event_id\":\"\xff\xfe\",\"user_id\":\"\xc3\x28\",\"event_name\":\"\xed\xa0\x80\",\"client_timestamp\":\"2026-11-26T10:00:00Z\"}]")}, 400, ""},
		{"numbers where strings belong", request{body: []byte(`[{"event_id":1,"user_id":2,"event_name":3,"client_timestamp":4}]`)}, 400, ""},
		{"huge metadata", request{body: []byte(`[{"event_id":"a","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z","metadata":{` + strings.TrimSuffix(strings.Repeat(`"k":"`+strings.Repeat("v", 1000)+`",`, 900), ",") + `}}]`)}, 400, ""},
		{"many metadata keys", request{body: []byte(`[{"event_id":"a","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z","metadata":{` + manyKeys(5000) + `}}]`)}, 400, ""},
		{"NUL bytes", request{body: []byte("[\x00\x00]")}, 400, "invalid_json"},
		{"truncated gzip", request{encoding: "gzip", body: gz(t, []byte(goodBatch))[:20]}, 400, "invalid_gzip"},
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.auth, tt.req.contentType = bearer(testKey), "application/json"
			// Eight at once: concurrency must not multiply memory beyond the budget.
			var wg sync.WaitGroup
			results := make([]response, 8)
			errs := make([]error, 8)
			for i := range results {
				wg.Add(1)
				go func() { defer wg.Done(); results[i], errs[i] = e.tryPost(tt.req) }()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, res := range results {
				if res.status != tt.wantStatus || (tt.wantCode != "" && res.errorCode() != tt.wantCode) {
					t.Fatalf("got %d %.200s, want %d %s", res.status, res.raw, tt.wantStatus, tt.wantCode)
				}
			}
		})
	}
	t.Run("50 MB body", func(t *testing.T) {
		status, body := e.postOversized(t, 50<<20)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "body_too_large") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
		t.Errorf("heap in use grew by %d MiB over the hostile corpus", grew>>20)
	}
	if after.Sys > 512<<20 {
		t.Errorf("process holds %d MiB from the OS", after.Sys>>20)
	}
	t.Logf("heap in use %d→%d MiB, sys %d MiB", before.HeapInuse>>20, after.HeapInuse>>20, after.Sys>>20)
	if n := e.messages(t); n != 0 {
		t.Fatalf("hostile requests published %d messages", n)
	}
	if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)}); res.status != 202 {
		t.Fatalf("after the corpus a good batch got %d %s", res.status, res.raw)
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`":1`)
	}
	return b.String()
}

// gzipBomb returns a gzip stream that inflates to n bytes of '0': one
// compressed member of 1 MiB, repeated (readers must accept concatenated
// members), so building it is cheap.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var member bytes.Buffer
	w, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := w.Write(bytes.Repeat([]byte{'0'}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), n>>20)
}
