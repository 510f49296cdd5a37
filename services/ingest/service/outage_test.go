package service

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"

	"github.com/evtrack/telemetry/platform/testenv"
)

// runNATS starts an in-process JetStream server on port (-1: any) storing in
// dir, so the test can stop and restart the broker under the service.
func runNATS(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = port
	opts.JetStream = true
	opts.StoreDir = dir
	opts.MaxPayload = 8 << 20
	return runNATSWith(t, &opts)
}

// runNATSWith starts an in-process server with opts.
func runNATSWith(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	s := natstest.RunServer(opts)
	t.Cleanup(s.Shutdown)
	return s
}

// TestBrokerOutage: while NATS is down every request is a 503 with
// Retry-After and nothing is claimed; when it is back the service accepts
// again by itself, and the stream holds exactly the batches answered 202.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ns := runNATS(t, -1, dir)
	url := ns.ClientURL()
	e := startIngest(t, url, map[string]string{"INGEST_PUBLISH_TIMEOUT": "500ms", "INGEST_RETRY_AFTER": "3s"})

	ok := func(id string) request {
		return request{auth: bearer(testKey), contentType: "application/json", body: []byte(`[` + event(id) + `]`)}
	}
	if res := e.post(t, ok("before")); res.status != 202 {
		t.Fatalf("before the outage: %d %s", res.status, res.raw)
	}

	tcpPort := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	ns.WaitForShutdown()

	for i := 0; i < 3; i++ {
		start := time.Now()
		res := e.post(t, ok("during-"+strconv.Itoa(i)))
		if res.status != http.StatusServiceUnavailable || res.errorCode() != "publish_failed" || res.header.Get("Retry-After") != "3" {
			t.Fatalf("during the outage: %d %s %v", res.status, res.raw, res.header)
		}
		if res.json["accepted"] != nil {
			t.Fatalf("a 503 claimed accepted events: %s", res.raw)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("a 503 took %s; the publish timeout is 500ms", took)
		}
	}
	if res, err := http.Get(e.base + "/readyz"); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %v %v", res, err)
	}

	runNATS(t, tcpPort, dir)
	testenv.EventuallyState(t, 15*time.Second, "a batch accepted (202) after NATS came back", func() (bool, string) {
		res := e.post(t, ok("after"))
		return res.status == http.StatusAccepted, fmt.Sprintf("%d %s", res.status, res.raw)
	})
	if n := e.messages(t); n != 2 {
		t.Fatalf("stream holds %d messages, want 2 (before, after)", n)
	}
}
