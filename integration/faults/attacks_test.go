package faults

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor for grpc.UseCompressor
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestAttacksAgainstProcess replays, at a running ingest process, the
// attacks its limits exist for — each sixteen at once — and checks every
// answer is the refusal it should be and that the process's peak resident
// memory (VmHWM) stays under 256 MiB over all of them.
func TestAttacksAgainstProcess(t *testing.T) {
	s := newStack(t, testenv.NATSURL(t), "")
	grpcAddr := testenv.FreeAddr(t)
	ingest := s.ingest(map[string]string{"INGEST_GRPC_ADDR": grpcAddr})
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	tiny := []byte("[" + strings.TrimSuffix(strings.Repeat("{},", 1<<20/3), ",") + "]")             // 1 MiB, 350k elements
	tinyGz := gzipped(t, []byte("["+strings.TrimSuffix(strings.Repeat("{},", 8<<20/3-1), ",")+"]")) // 8 MiB inflated
	empties := testenv.EmptyEventsTrackRequest(4<<20 - 64)                                          // 2M empty protobuf events
	withKey := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+writeKey)
	}
	// A refusal that leaves much of the request unread closes the
	// connection: a client still sending may see that (reset) instead of
	// the answer, which is as good a refusal.
	// segmentCase posts to a Segment route; any of wants is a good answer.
	segmentCase := func(path, auth string, body []byte, encoding string, wants []int, wantIn string) func() error {
		return func() error {
			req, _ := http.NewRequest(http.MethodPost, s.ingestHTTP+path, bytes.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			req.Header.Set("Content-Type", "application/json")
			if encoding != "" {
				req.Header.Set("Content-Encoding", encoding)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				if len(body) > 256<<10 && (strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe")) {
					return nil
				}
				return err
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if !slices.Contains(wants, res.StatusCode) || (res.StatusCode == wants[0] && !strings.Contains(string(b), wantIn)) {
				return fmt.Errorf("got %d %.200s, want one of %v (%d naming %q)", res.StatusCode, b, wants, wants[0], wantIn)
			}
			return nil
		}
	}
	// Segment bodies: a million tiny messages, and bodies with a key in
	// the body that is not one (read before it is known: at most 1 MiB
	// inflated, under a budget of their own, so refused with 413 or 401,
	// or 503 while that budget is spent, or 429 once the 16 at once from
	// this one address hold its share of it).
	segTiny := []byte(`{"batch":[` + strings.TrimSuffix(strings.Repeat("{},", 1<<20/3-6), ",") + "]}")
	segBody := func(messages int) []byte {
		return gzipped(t, []byte(`{"writeKey":"not-a-key-0123456789","batch":[`+strings.TrimSuffix(strings.Repeat(`{"type":"track","properties":{"p":"`+strings.Repeat("x", 8000)+`"}},`, messages), ",")+"]}"))
	}
	segBig, segNear := segBody(1000), segBody(120) // 8 MB and 960 KB inflated
	// With a key (a browser's is public): a 16 KiB property name over 4,000
	// members (a 40 KB body) flattens to 4,000 copies of it, 64 MB a request
	// and 1 GB for the 16 at once, unless flattening stops at the event's
	// size limit (sized to show the difference without a much larger attack
	// putting the machine itself at risk should the limit ever go).
	segPrefix := []byte(`{"batch":[{"type":"track","messageId":"m","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":{"` +
		strings.Repeat("k", 16<<10) + `":{` + strings.TrimSuffix(strings.Repeat(`"a":1,`, 4000), ",") + `}}}]}`)
	segKey := "Basic " + base64.StdEncoding.EncodeToString([]byte(writeKey+":"))
	httpCase := func(auth string, body []byte, encoding string, header map[string]string, want int, wantIn string) func() error {
		return func() error {
			req, _ := http.NewRequest(http.MethodPost, s.ingestHTTP+"/v1/track", bytes.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			req.Header.Set("Content-Type", "application/json")
			if encoding != "" {
				req.Header.Set("Content-Encoding", encoding)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				if len(body) > 256<<10 || len(header) > 0 {
					if strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe") {
						return nil
					}
				}
				return err
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != want || !strings.Contains(string(b), wantIn) {
				return fmt.Errorf("got %d %.200s, want %d naming %q", res.StatusCode, b, want, wantIn)
			}
			return nil
		}
	}
	// grpcCase makes a Track call; any of wants is a good answer, the first
	// naming wantIn (codes.Unknown first: any refusal).
	grpcCase := func(ctx context.Context, body []byte, wants []codes.Code, wantIn string) func() error {
		return func() error {
			err := conn.Invoke(ctx, "/telemetry.ingest.v1.IngestService/Track", &testenv.RawMessage{Bytes: body}, new(ingestv1.TrackResponse),
				grpc.ForceCodecV2(testenv.RawCodec{}), grpc.UseCompressor("gzip"))
			st := grpcstatus.Convert(err)
			if st.Code() == codes.OK || (wants[0] != codes.Unknown && !slices.Contains(wants, st.Code())) ||
				(st.Code() == wants[0] && !strings.Contains(st.Message(), wantIn)) {
				return fmt.Errorf("got %v, want one of %v (%v naming %q)", err, wants, wants[0], wantIn)
			}
			return nil
		}
	}
	tests := []struct {
		name string
		call func() error
	}{
		// Item 2: a million tiny elements, plain and inflating to 8 MiB.
		{"1 MiB of empty JSON objects", httpCase("Bearer "+writeKey, tiny, "", nil, 413, "at most 1000")},
		{"gzip inflating to 8 MiB of empty objects", httpCase("Bearer "+writeKey, tinyGz, "gzip", nil, 413, "at most 1000")},
		// Item 1: gRPC decodes nothing before the key, and counts before it
		// decodes (or refuses RESOURCE_EXHAUSTED once the 16 at once from
		// this one address hold its share of the memory budget).
		{"gRPC without a key, 2M empty events", grpcCase(context.Background(), empties, []codes.Code{codes.Unauthenticated}, "write key")},
		{"gRPC with a key, 2M empty events", grpcCase(withKey(context.Background()), empties, []codes.Code{codes.InvalidArgument, codes.ResourceExhausted}, "at most 1000")},
		// Item 3: headers are bounded on both edges.
		{"gRPC with a megabyte of user agent", grpcCase(metadata.AppendToOutgoingContext(withKey(context.Background()),
			"user-agent", strings.Repeat("u", 1<<20)), testenv.EmptyEventsTrackRequest(64), []codes.Code{codes.Unknown}, "")},
		{"HTTP with a megabyte of user agent", httpCase("Bearer "+writeKey, []byte("[]"), "", map[string]string{"User-Agent": strings.Repeat("u", 1<<20)}, 431, "")},
		// Item 4: no key, no body read.
		{"HTTP without a key, 1 MiB body", httpCase("", tiny, "", nil, 401, "write key")},
		// The Segment routes: the same limits, and keys in the body cost
		// only their own budget.
		{"Segment: 1 MiB of empty messages, no key", segmentCase("/v1/batch", "", segTiny, "", []int{413, 429}, "at most 1000")},
		{"Segment: gzip inflating to 8 MB, key in the body", segmentCase("/v1/batch", "", segBig, "gzip", []int{413, 503, 429}, "larger than")},
		{"Segment: gzip inflating to 960 KB, a wrong key in the body", segmentCase("/v1/batch", "", segNear, "gzip", []int{401, 503, 429}, "write key")},
		{"Segment: a 16 KiB property name over 4,000 members, with a key", segmentCase("/v1/batch", segKey, segPrefix, "", []int{400, 200, 503}, "larger than")},
		{"Segment: a wrong key in the header, 1 MiB body", segmentCase("/segment/v1/batch", "Basic bm90LWEta2V5LTAxMjM0NTY3ODk6", segTiny, "", []int{401}, "write key")},
		// Item 9: control characters in ids.
		{"NUL inside an event id", httpCase("Bearer "+writeKey, []byte(`[{"event_id":"a\u0000b","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z"}]`), "", nil, 400, "control character")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := tt.call(); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
	// Item 4: connections that announce a body and stall hold nothing.
	t.Run("512 stalled unauthenticated bodies", func(t *testing.T) {
		addr := strings.TrimPrefix(s.ingestHTTP, "http://")
		var wg sync.WaitGroup
		errs := make(chan error, 512)
		for range 512 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				fmt.Fprintf(c, "POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 1<<20, bytes.Repeat([]byte(" "), 8<<10))
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					errs <- err
					return
				}
				res.Body.Close()
				if res.StatusCode != 401 && res.StatusCode != 429 {
					errs <- fmt.Errorf("status %d", res.StatusCode)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	peak := peakRSSBytes(ingest)
	t.Logf("ingest peak RSS (VmHWM) over every attack: %d MiB", peak>>20)
	if peak == 0 || peak > 256<<20 {
		t.Errorf("ingest VmHWM %d MiB, want under 256 MiB", peak>>20)
	}
	waitReady(t, s.ingestHTTP+"/readyz", 5*time.Second)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
