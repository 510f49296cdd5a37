// Command enrichbench measures the enrich side against its ceiling on this
// machine (scripts/bench.sh runs it):
//
//	enrichbench -mode bulk  builds the documents enrich would write for N
//	                        generated events as _bulk bodies (saved as an
//	                        NDJSON file), then posts them, nothing else in
//	                        the way: OpenSearch's ceiling.
//	enrichbench -mode fill  publishes the same kind of events as EventBatches
//	                        into a stream, for enrich to drain.
//	enrichbench -mode drain waits until a consumer has drained its stream and
//	                        reports the rate.
//	enrichbench -mode load  streams N documents for U users spread over D days
//	                        straight into the indices (a large data set for
//	                        the query benchmark), without a file.
//	enrichbench -mode compact merges the past days' indices of the prefix into
//	                        one segment each, as enrich's hourly maintenance
//	                        does (so a loaded data set is in the state a
//	                        running enrich keeps it in).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/opensearch-project/opensearch-go/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/enrich/internal/compaction"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
	"github.com/evtrack/telemetry/services/enrich/internal/templates"
)

func main() {
	mode := flag.String("mode", "bulk", "bulk, fill, drain, load or compact")
	events := flag.Int("events", 200000, "events to generate")
	batch := flag.Int("batch", 100, "events per EventBatch")
	osURL := flag.String("opensearch", "http://127.0.0.1:9200", "OpenSearch URL")
	prefix := flag.String("prefix", "bench-events", "index prefix (bulk mode writes <prefix>-YYYY.MM.DD)")
	bulkDocs := flag.Int("bulk-docs", 5000, "documents per _bulk")
	inFlight := flag.Int("in-flight", 2, "_bulk requests in flight")
	file := flag.String("file", "", "NDJSON file to write and post (bulk mode)")
	natsURL := flag.String("nats", "nats://127.0.0.1:4222", "NATS URL")
	stream := flag.String("stream", "BENCH_ENRICH", "stream (fill, drain)")
	subject := flag.String("subject", "bench.enrich", "subject prefix (fill)")
	consumer := flag.String("consumer", "enrich", "durable consumer (drain)")
	users := flag.Int("users", 10000, "distinct users")
	days := flag.Int("days", 1, "days the events are spread over (load)")
	rounds := flag.Int("rounds", 1, "bulk mode: this many times -events documents, each round's ids its own, built first and posted back to back")
	flag.Parse()
	gen := generator{users: *users, days: *days, end: time.Now().UTC()}

	var err error
	switch *mode {
	case "bulk":
		err = bulk(gen, *events, *rounds, *batch, *osURL, *prefix, *bulkDocs, *inFlight, *file)
	case "fill":
		err = fill(gen, *events, *batch, *natsURL, *stream, *subject)
	case "drain":
		err = drain(*natsURL, *stream, *consumer, *events)
	case "load":
		// Whole past days, ending at today's midnight: today's index holds
		// only what a benchmark writes while it runs (and is thrown away).
		gen.end = gen.end.Truncate(24 * time.Hour)
		err = load(gen, *events, *batch, *osURL, *prefix, *bulkDocs, *inFlight)
	case "compact":
		err = compact(*osURL, *prefix)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "enrichbench:", err)
		os.Exit(1)
	}
}

// generator shapes the generated events: users distinct users, arriving
// over the days before end.
type generator struct {
	users, days int
	end         time.Time
	ids         string // in every event id, after "bench-"
}

// batches generates events shaped like the load generator's (and a mobile
// SDK's): ~350 bytes each, skewed names, five metadata keys, a message.
func (gen generator) batches(n, size int) []*telemetryv1.EventBatch {
	var out []*telemetryv1.EventBatch
	gen.eachBatch(n, size, 0, func(b *telemetryv1.EventBatch) { out = append(out, b) })
	return out
}

// eachBatch calls f with generated batches; seed varies the stream.
func (gen generator) eachBatch(n, size int, seed uint64, f func(*telemetryv1.EventBatch)) {
	rng := rand.New(rand.NewPCG(3, 4+seed))
	names := []string{"screen_view", "screen_view", "tap", "tap", "scroll", "app_open", "search", "add_to_cart", "purchase"}
	span := max(gen.days, 1) * 24 * 3600
	for i := 0; i < n; i += size {
		received := gen.end.Add(-time.Duration(60+rng.IntN(span-60)) * time.Second)
		b := &telemetryv1.EventBatch{BatchId: "bench-" + strconv.Itoa(i), AppId: "bench", ReceivedAt: timestamppb.New(received),
			SentAt: timestamppb.New(received.Add(time.Duration(rng.IntN(4000)-2000) * time.Millisecond)), ClientIp: "81.2.69.160",
			UserAgent: "Shop/4.2.0 (iPhone15,2; iOS 18.1)"}
		for j := i; j < min(i+size, n); j++ {
			user := rng.IntN(gen.users)
			b.Events = append(b.Events, &telemetryv1.Event{
				EventId: fmt.Sprintf("bench-%s%012d", gen.ids, j), UserId: "user-" + strconv.Itoa(user),
				SessionId: fmt.Sprintf("sess-%d-%d", user, rng.IntN(20)), EventName: names[rng.IntN(len(names))],
				ClientTimestamp: timestamppb.New(received.Add(-time.Duration(rng.IntN(5000)) * time.Millisecond)),
				AppVersion:      "4.2.0", DeviceOs: "iOS 18.1",
				Metadata: map[string]string{"screen": "home", "build": strconv.Itoa(1000 + rng.IntN(50)), "dark_mode": "true",
					"network": "wifi", "locale": "en_US"},
				Message: "user interaction recorded by the mobile sdk",
			})
		}
		f(b)
	}
}

// newBuilder builds documents as enrich does with its default clock bounds
// (events up to maxAge old), its default metadata_text and no geo database:
// enrichment.NewChain, as in service.New.
func newBuilder(prefix string, maxAge time.Duration) (*document.Builder, error) {
	const maxFuture = 10 * time.Minute
	chain, err := enrichment.NewChain(enrichment.ChainConfig{
		ClockSkew: enrichment.ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: maxFuture, MaxAge: maxAge}})
	if err != nil {
		return nil, err
	}
	return document.NewBuilder(prefix, chain, document.Placement{MaxAge: maxAge, MaxFuture: maxFuture}).WithTextCopies(true), nil
}

func bulk(gen generator, n, rounds, size int, osURL, prefix string, bulkDocs, inFlight int, file string) error {
	// The same template enrich applies: same mapping, shards and refresh.
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		return err
	}
	if err := templates.Apply(context.Background(), osc, prefix, 0); err != nil {
		return err
	}
	builder, err := newBuilder(prefix, 30*24*time.Hour)
	if err != nil {
		return err
	}
	if file == "" {
		file = os.TempDir() + "/enrichbench.ndjson"
	}
	f, err := os.Create(file)
	defer os.Remove(file)
	if err != nil {
		return err
	}
	// Build the request bodies first (and save them as the NDJSON file), so
	// building does not count.
	var bodies []*opensearchx.BulkBody
	body := &opensearchx.BulkBody{}
	fileBytes := 0
	flush := func() error {
		bodies = append(bodies, body)
		fileBytes += body.Len()
		_, err := f.Write(body.Bytes())
		next := &opensearchx.BulkBody{}
		next.Grow(body.Len())
		body = next
		return err
	}
	for r := range max(rounds, 1) {
		if rounds > 1 { // the same documents again would be refused as existing (409)
			gen.ids = fmt.Sprintf("r%d-", r)
		}
		for _, b := range gen.batches(n, size) {
			docs, err := builder.Build(b, time.Now())
			if err != nil {
				return err
			}
			for _, d := range docs {
				body.Create(d.Index, d.ID, d.Body)
				if body.Actions() == bulkDocs {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
	}
	n *= max(rounds, 1)
	if body.Actions() > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}

	var failed atomic.Int64
	start := time.Now()
	work, wait := bulkSenders(osc, inFlight, 0, func(error) { failed.Add(1) })
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wait()
	elapsed := time.Since(start)
	out := map[string]any{"mode": "bulk", "documents": n, "seconds": elapsed.Seconds(), "docs_per_sec": float64(n) / elapsed.Seconds(),
		"bulk_docs": bulkDocs, "in_flight": inFlight, "file_bytes": fileBytes, "failed_bulks": failed.Load()}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// bulkSenders starts inFlight goroutines that send each body put on work
// (buffered by buffer) with BulkAll, calling failed, from those goroutines,
// for each that fails. Close work, then call wait for the last answers.
func bulkSenders(osc *opensearch.Client, inFlight, buffer int, failed func(error)) (work chan<- *opensearchx.BulkBody, wait func()) {
	ch := make(chan *opensearchx.BulkBody, buffer)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range ch {
				if err := opensearchx.BulkAll(context.Background(), osc, body); err != nil {
					failed(err)
				}
			}
		}()
	}
	return ch, wg.Wait
}

// jetStream connects to the broker at natsURL and returns its JetStream
// and the function that closes the connection.
func jetStream(natsURL string) (njs.JetStream, func(), error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, nil, err
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

func fill(gen generator, n, size int, natsURL, stream, subject string) error {
	js, closeNATS, err := jetStream(natsURL)
	if err != nil {
		return err
	}
	defer closeNATS()
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, njs.StreamConfig{Name: stream, Subjects: []string{subject + ".>"}, MaxAge: 24 * time.Hour}); err != nil {
		return err
	}
	start := time.Now()
	for _, b := range gen.batches(n, size) {
		data, err := b.MarshalVT()
		if err != nil {
			return err
		}
		if _, err := js.PublishAsync(subject+".bench", data); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return fmt.Errorf("publishes not acknowledged within a minute")
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"mode": "fill", "events": n, "seconds": time.Since(start).Seconds()})
}

func drain(natsURL, stream, consumer string, events int) error {
	js, closeNATS, err := jetStream(natsURL)
	if err != nil {
		return err
	}
	defer closeNATS()
	ctx := context.Background()
	var start time.Time
	var startPending uint64
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		c, err := js.Consumer(ctx, stream, consumer)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil {
				if start.IsZero() {
					start, startPending = time.Now(), info.NumPending+uint64(info.NumAckPending)
				}
				if info.NumPending == 0 && info.NumAckPending == 0 {
					elapsed := time.Since(start)
					return json.NewEncoder(os.Stdout).Encode(map[string]any{"mode": "drain", "messages": startPending,
						"events": events, "seconds": elapsed.Seconds(), "docs_per_sec": float64(events) / elapsed.Seconds()})
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("consumer %s did not drain within 10 minutes", consumer)
}

// load streams documents into the indices of prefix in bulk requests.
func load(gen generator, n, size int, osURL, prefix string, bulkDocs, inFlight int) error {
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		return err
	}
	if err := templates.Apply(context.Background(), osc, prefix, 0); err != nil {
		return err
	}
	builder, err := newBuilder(prefix, time.Duration(gen.days+2)*24*time.Hour)
	if err != nil {
		return err
	}
	var failed sync.Map
	work, wait := bulkSenders(osc, inFlight, inFlight, func(err error) { failed.Store(err.Error(), true) })
	start := time.Now()
	body := &opensearchx.BulkBody{}
	docs := 0
	gen.eachBatch(n, size, uint64(time.Now().UnixNano()), func(b *telemetryv1.EventBatch) {
		ds, err := builder.Build(b, time.Now())
		if err != nil {
			failed.Store(err.Error(), true)
			return
		}
		for _, d := range ds {
			body.Create(d.Index, d.ID, d.Body)
			docs++
			if docs%bulkDocs == 0 {
				work <- body
				next := &opensearchx.BulkBody{}
				next.Grow(body.Len())
				body = next
			}
		}
		if docs%1000000 < size {
			fmt.Fprintf(os.Stderr, "load: %d documents, %.0f/s\n", docs, float64(docs)/time.Since(start).Seconds())
		}
	})
	if body.Actions() > 0 {
		work <- body
	}
	close(work)
	wait()
	nfail := 0
	failed.Range(func(k, _ any) bool { nfail++; fmt.Fprintln(os.Stderr, "load: failure:", k); return nfail < 5 })
	elapsed := time.Since(start)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"mode": "load", "documents": docs, "users": gen.users, "days": gen.days,
		"seconds": elapsed.Seconds(), "docs_per_sec": float64(docs) / elapsed.Seconds(), "failures": nfail})
}

// compact runs enrich's compaction of past days once, without a grace
// period, and reports what it merged.
func compact(osURL, prefix string) error {
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		return err
	}
	start := time.Now()
	merged, err := compaction.MergeClosedDays(context.Background(), osc, prefix, 0, time.Now())
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"mode": "compact", "merged": merged, "seconds": time.Since(start).Seconds()})
}
