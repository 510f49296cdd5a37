package service

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/testenv"
)

// grpcHealth is the gRPC health service's answer for the server at addr
// (an error's text when it does not answer), on a connection of its own.
func grpcHealth(addr string) string {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: ingestv1.IngestService_ServiceDesc.ServiceName})
	if err != nil {
		return "error: " + err.Error()
	}
	return r.Status.String()
}

// TestGRPCHealthFollowsReadiness: the gRPC health service says what
// /readyz says — NOT_SERVING while NATS cannot be reached, SERVING again
// once it can. Before, it answered SERVING whatever happened.
func TestGRPCHealthFollowsReadiness(t *testing.T) {
	t.Parallel()
	p := testenv.NewProxy(t, strings.TrimPrefix(testenv.NATSURL(t), "nats://"))
	e := startIngest(t, "nats://"+p.Addr(), nil)
	testenv.EventuallyState(t, 15*time.Second, "gRPC health SERVING", func() (bool, string) {
		s := grpcHealth(e.grpcAddr)
		return s == "SERVING", s
	})
	p.Down()
	testenv.EventuallyState(t, 15*time.Second, "/readyz 503 and gRPC health NOT_SERVING with NATS away", func() (bool, string) {
		code, body := testenv.Get(t, e.base+"/readyz")
		s := grpcHealth(e.grpcAddr)
		return code == 503 && s == "NOT_SERVING", fmt.Sprintf("/readyz %d %s, gRPC %s", code, body, s)
	})
	p.Up()
	testenv.EventuallyState(t, 30*time.Second, "gRPC health SERVING once NATS is back", func() (bool, string) {
		s := grpcHealth(e.grpcAddr)
		return s == "SERVING", s
	})
}

// TestShutdownStopsBothEdgesAtOnce: on SIGTERM both edges stop taking
// requests at once, whatever one slow HTTP client does, and the stop ends
// within INGEST_SHUTDOWN_TIMEOUT without an error. Before, gRPC took new
// calls until the HTTP drain gave up at the deadline, and Run returned
// "http shutdown: context deadline exceeded" (exit 1).
func TestShutdownStopsBothEdgesAtOnce(t *testing.T) {
	t.Parallel()
	var logs testenv.Logs
	e := startIngestLogging(t, "", map[string]string{"INGEST_SHUTDOWN_TIMEOUT": "3s"}, logs.Logger())
	// An authenticated body announced as 1000 bytes, 10 sent, never finished.
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"event_", testKey); err != nil {
		t.Fatal(err)
	}
	// The server takes connections in the order they came: once a later
	// one is answered, the slow one has been taken and counts as open
	// (without this the stop could begin while it still waited in the
	// listen queue, and it was reset with the listener: seen in CI).
	if code, body := testenv.Get(t, e.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	stopping := testenv.Background(func() (struct{}, error) { return struct{}{}, e.stop() })
	testenv.EventuallyState(t, 2*time.Second, "a new gRPC call refused after SIGTERM", func() (bool, string) {
		conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(authed(testKey), time.Second)
		defer cancel()
		_, err = ingestv1.NewIngestServiceClient(conn).Track(ctx, &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{{
			EventId: "after-sigterm", UserId: "u", EventName: "x", ClientTimestamp: timestamppb.Now()}}}})
		return err != nil, fmt.Sprint("Track: ", err)
	})
	// It ends well within 15 s (INGEST_SHUTDOWN_TIMEOUT is 3 s) and without
	// an error: a client still sending at the deadline is no failure of it.
	stopping.Wait(t, 15*time.Second)
	// The slow client was there to the end: the stop closed it.
	if !strings.Contains(logs.String(), "HTTP connections still open at the shutdown deadline are left to end with the process") {
		t.Fatalf("no slow HTTP client at the deadline: the fault did not strike; logs:\n%s", logs.String())
	}
}

// TestStopRightAfterStart: a stop begun as the service starts (SIGTERM in
// its first instant) ends. Before, when it came before the HTTP server had
// taken its listener, fasthttp had nothing to close, its Serve started
// after and accepted for ever, and the stop never returned (seen in CI).
func TestStopRightAfterStart(t *testing.T) {
	t.Parallel()
	for range 20 {
		e := startIngest(t, "", nil)
		testenv.Background(func() (struct{}, error) { return struct{}{}, e.stop() }).Wait(t, 20*time.Second)
	}
}
