package service

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUnauthenticatedBodyIsNotRead: the write key is checked on the headers,
// so a caller without one is answered before its body is read and cannot
// make the service hold bodies in memory.
func TestUnauthenticatedBodyIsNotRead(t *testing.T) {
	// Not parallel: it measures what the whole process allocates, so no
	// other test may run beside it (parallel tests wait for it to end).
	e := startIngest(t, "", nil)
	t.Run("answered before the body arrives", func(t *testing.T) {
		// 64 KiB of a 1 MiB body, then nothing: only a server that
		// answers from the headers responds.
		status, body := e.postEarly(t, "", 1<<20, 64<<10)
		if status != http.StatusUnauthorized || !strings.Contains(body, "write key") {
			t.Fatalf("got %d %s, want 401 naming the write key", status, body)
		}
	})
	t.Run("bodies are not held", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		statuses := make([]int, 64)
		errs := make([]error, 64)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], _, errs[i] = e.tryPostEarly("", 1<<20, 1<<20)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		for _, s := range statuses {
			if s != http.StatusUnauthorized {
				t.Fatalf("statuses %v, want 401", statuses)
			}
		}
		t.Logf("64 unauthenticated 1 MiB bodies: %d KiB allocated", (after.TotalAlloc-before.TotalAlloc)>>10)
		// 64 bodies of 1 MiB; the server reads at most 8 KiB of each.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Errorf("64 unauthenticated 1 MiB bodies allocated %d MiB", grew>>20)
		}
	})
}

// TestConnectionLimits: connections are bounded per client address, and an
// idle keep-alive connection is closed after INGEST_IDLE_TIMEOUT.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_MAX_CONNECTIONS_PER_IP": "4"})
	addr := strings.TrimPrefix(e.base, "http://")
	idle := startIngest(t, "", map[string]string{"INGEST_IDLE_TIMEOUT": "300ms"})
	get := func(conn net.Conn) (*http.Response, error) {
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return res, err
	}
	t.Run("per client address", func(t *testing.T) {
		var open []net.Conn
		t.Cleanup(func() {
			for _, c := range open {
				c.Close()
			}
		})
		for range 4 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
			if res, err := get(c); err != nil || res.StatusCode != 200 {
				t.Fatalf("connection within the limit: %v %v", res, err)
			}
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, err := get(c)
		if err == nil && res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a fifth connection from one address got %d, want 429 or a closed connection", res.StatusCode)
		}
	})
	t.Run("idle keep-alive closed", func(t *testing.T) {
		c, err := net.Dial("tcp", strings.TrimPrefix(idle.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if res, err := get(c); err != nil || res.StatusCode != 200 {
			t.Fatalf("first request: %v %v", res, err)
		}
		// The server closes the idle connection: the read ends with EOF
		// well before the deadline.
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection: read %v after %s, want EOF (closed by the server)", err, time.Since(start))
		}
	})
}

// TestStalledBodiesHoldOnlyTheirAddressShare: with a valid key (a browser's
// is public), 8 connections from one address (behind the trusted proxy)
// announce 1 MiB bodies and stall after 8 KiB. Bodies are charged to the
// memory budget before they are read, so before per-address shares the 8
// held this instance's whole 8 MiB budget and every caller got 503 until
// the read timeout. Now that address holds at most its share (one largest
// body or gRPC message, 1 MiB): one stall holds it and the other 7 are
// refused 429, as is the address's next request, while a caller at another
// address is served.
func TestStalledBodiesHoldOnlyTheirAddressShare(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_TRUSTED_PROXIES": "127.0.0.1/32",
		"INGEST_DECODE_BUDGET_BYTES": "8388608", "INGEST_GRPC_MAX_MESSAGE_BYTES": "1048576"})
	addr := strings.TrimPrefix(e.base, "http://")
	statuses := make(chan int, 8)
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Forwarded-For: 198.51.100.7\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[%s",
			testKey, 1<<20, strings.Repeat(" ", 8<<10))
		go func() { // the answer, if any comes before the test ends
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	// The stalls struck: 7 refused for their address's share, which the
	// 8th holds while it waits for its body.
	deadline := time.After(20 * time.Second)
	for range 7 {
		select {
		case s := <-statuses:
			if s != http.StatusTooManyRequests {
				t.Fatalf("a stalled request answered %d, want 429", s)
			}
		case <-deadline:
			t.Fatal("fewer than 7 of the 8 stalled requests were refused within 20 s")
		}
	}
	post := func(from string) (int, string) {
		res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch), header: map[string]string{"X-Forwarded-For": from}})
		return res.status, string(res.raw)
	}
	if status, body := post("198.51.100.7"); status != http.StatusTooManyRequests || !strings.Contains(body, "too_many_requests") {
		t.Errorf("the stalled address's next request: %d %s, want 429", status, body)
	}
	if status, body := post("203.0.113.9"); status != http.StatusAccepted {
		t.Fatalf("a caller at another address while the stalls hold: %d %s", status, body)
	}
}
