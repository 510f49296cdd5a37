package http

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// marshalPublisher stores nothing: it marshals each batch as the JetStream
// publisher does, so a request costs what it costs up to the broker.
type marshalPublisher struct{ buf []byte }

func (p *marshalPublisher) PublishBatch(_ context.Context, b *telemetryv1.EventBatch) (bool, error) {
	size := b.SizeVT()
	if cap(p.buf) < size {
		p.buf = make([]byte, size)
	}
	_, err := b.MarshalToSizedBufferVT(p.buf[:size])
	return false, err
}

// edgeBodies are the same 100 events as a /v1/track body and as a Segment
// batch, as the load generator renders them.
func edgeBodies() (trackBody, batchBody []byte) {
	var t, s strings.Builder
	t.WriteByte('[')
	s.WriteString(`{"batch":[`)
	for i := range 100 {
		if i > 0 {
			t.WriteByte(',')
			s.WriteByte(',')
		}
		id := fmt.Sprintf("run1.%015d", i)
		ts := fmt.Sprintf("2026-11-26T10:00:0%d.123Z", i%10)
		fmt.Fprintf(&t, `{"event_id":"%s","user_id":"user-%d","session_id":"sess-%d-3","event_name":"screen_view",`+
			`"client_timestamp":"%s","app_version":"4.2.0","device_os":"iOS 18.1",`+
			`"metadata":{"screen":"home","build":1042,"dark_mode":true,"network":"wifi","locale":"en_US"},`+
			`"message":"user interaction recorded by the mobile sdk"}`, id, i*7, i*7, ts)
		fmt.Fprintf(&s, `{"type":"track","messageId":"%s","userId":"user-%d","event":"screen_view","timestamp":"%s",`+
			`"properties":{"screen":"home","build":1042,"dark_mode":true,"network":"wifi","locale":"en_US","session_id":"sess-%d-3","message":"user interaction recorded by the mobile sdk"},`+
			`"context":{"app":{"version":"4.2.0"},"os":{"name":"iOS","version":"18.1"}}}`, id, i*7, ts, i*7)
	}
	t.WriteByte(']')
	s.WriteString(`],"sentAt":"2026-11-26T10:00:10Z"}`)
	return []byte(t.String()), []byte(s.String())
}

// BenchmarkEdge is one request of the same 100 events through the whole
// HTTP edge, on /v1/track and on /v1/batch, up to the broker.
func BenchmarkEdge(b *testing.B) {
	const key = "0123456789abcdef"
	trackBody, batchBody := edgeBodies()
	for _, tc := range []struct {
		name, path, auth string
		body             []byte
		status           int
	}{
		{"track", "/v1/track", "Bearer " + key, trackBody, fasthttp.StatusAccepted},
		{"batch", "/v1/batch", "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")), batchBody, fasthttp.StatusOK},
	} {
		b.Run(tc.name, func(b *testing.B) {
			keys, err := auth.ParseWriteKeys(key + ":app")
			if err != nil {
				b.Fatal(err)
			}
			lim := track.Limits{MaxEvents: 1000, MaxMetadataKeys: 100, MaxEventBytes: 32 << 10}
			reg := prometheus.NewRegistry()
			m := metrics.New(reg)
			tracker := track.NewTracker(&marshalPublisher{}, track.Options{Limits: lim, Metrics: m})
			budget := track.NewBudget(256 << 20)
			app, err := NewApp(keys, tracker, health.NewChecker(time.Second), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{
				MaxBodyBytes: 1 << 20, MaxDecodedBytes: 8 << 20, Budget: budget, Decoder: track.NewDecoder(lim, budget),
				AddressBudget:  track.NewAddressBudget(budget, 1<<20),
				MaxConnections: 16, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
				RetryAfter: time.Second, Gate: track.NewGate(16), Metrics: m, Registry: reg,
				TracerProvider: noop.NewTracerProvider(), Propagator: propagation.TraceContext{},
				BodyKeyBudget: track.NewBudget(32 << 20), BodyKeyDecoder: track.NewDecoder(lim, track.NewBudget(32<<20)), BodyKeyMaxDecoded: 1 << 20,
			})
			if err != nil {
				b.Fatal(err)
			}
			ln := fasthttputil.NewInmemoryListener()
			go func() { _ = app.Listener(ln) }()
			defer func() { _ = app.Shutdown() }()
			client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://ingest" + tc.path)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			req.Header.Set("Authorization", tc.auth)
			req.SetBodyRaw(tc.body)
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := client.Do(req, resp); err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode() != tc.status {
					b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
				}
			}
		})
	}
}
