package service

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/geotest"
)

// TestOpenSearchOutageUnderLoad: OpenSearch becomes unreachable while batches
// keep arriving, stays away a while, and comes back. Every event ends up
// indexed exactly once and the backlog drains.
func TestOpenSearchOutageUnderLoad(t *testing.T) {
	t.Parallel()
	osURL := testenv.OpenSearchURL(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(osURL, "http://"))
	e := startEnrichWith(t, map[string]string{
		"OPENSEARCH_URL": "http://" + proxy.Addr(), "ENRICH_RETRY_DELAY": "500ms", "ENRICH_MAX_BACKOFF": "1s",
		"ENRICH_BULK_TIMEOUT": "5s", "ENRICH_ACK_WAIT": "30s",
	})
	day := time.Now().UTC().Add(-time.Hour)
	const batches, perBatch = 60, 50
	sent := 0
	publish := func(i int) {
		b := batchOf(perBatch, day)
		for _, ev := range b.Events {
			ev.EventId = fmt.Sprintf("b%d-%s", i, ev.EventId)
		}
		b.BatchId = fmt.Sprintf("batch-%d", i)
		e.publish(t, b, b.BatchId)
		sent += perBatch
	}
	for i := 0; i < 20; i++ {
		publish(i)
	}
	proxy.Down()
	for i := 20; i < 50; i++ { // arriving during the outage
		publish(i)
		time.Sleep(50 * time.Millisecond) // pacing: batches keep arriving while it is down
	}
	// The outage lasts until enrich has met it: a bulk request failed.
	testenv.Eventually(t, 30*time.Second, "a bulk request failing while OpenSearch is away (else the outage did not strike)", func() bool {
		return metricValue(metricsBody(t, e), "enrich_bulk_failures_total") > 0
	})
	proxy.Up()
	for i := 50; i < batches; i++ {
		publish(i)
	}
	e.waitDocs(t, sent)
	// Nothing more can arrive once the consumer holds nothing pending or
	// unacknowledged: count then.
	e.waitDrained(t)
	docs := e.docs(t)
	ids := map[string]int{}
	for _, d := range docs {
		ids[d["event_id"].(string)]++
	}
	dups := 0
	for _, n := range ids {
		if n > 1 {
			dups++
		}
	}
	t.Logf("sent %d, indexed %d, distinct %d, duplicates %d, lost %d", sent, len(docs), len(ids), dups, sent-len(ids))
	if len(ids) != sent || len(docs) != sent || dups != 0 {
		t.Fatalf("want every one of %d events exactly once", sent)
	}
	body := metricsBody(t, e)
	if m := grep(body, "enrich_bulk_failures_total "); m == "" || strings.HasSuffix(m, " 0") {
		t.Errorf("no bulk failed during the outage (%q): the test did not test an outage", m)
	}
	// Waiting for OpenSearch spends no delivery: the messages in hand were
	// kept (marked in progress) and retried, not nak'ed.
	if got := metricValue(body, `enrich_messages_total{outcome="redelivered"}`); got != 0 {
		t.Errorf("%v messages nak'ed during the outage; want 0", got)
	}
}

// TestRefusedDocumentIsDeadLettered: OpenSearch refuses a document (here: its
// day's index maps user_id as a number). It lands in the dead-letter index
// with the reason; the other events of its batch and the batches behind it
// are indexed, and the message is acked.
func TestRefusedDocumentIsDeadLettered(t *testing.T) {
	t.Parallel()
	e := startEnrich(t)
	bad := time.Now().UTC().Add(-48 * time.Hour)
	good := time.Now().UTC().Add(-time.Hour)
	testenv.PutJSON(t, e.osURL, "/"+e.prefix+"-"+bad.Format("2006.01.02"), `{"mappings":{"properties":{"user_id":{"type":"long"}}}}`)

	b := &telemetryv1.EventBatch{BatchId: "dl-1", AppId: "app-test", ReceivedAt: timestamppb.Now(), Events: []*telemetryv1.Event{
		{EventId: "refused", UserId: "not-a-number", EventName: "x", ClientTimestamp: timestamppb.New(bad)},
		{EventId: "fine-same-day", UserId: "12345", EventName: "x", ClientTimestamp: timestamppb.New(bad)},
		{EventId: "fine-other-day", UserId: "u1", EventName: "x", ClientTimestamp: timestamppb.New(good)},
	}}
	e.publish(t, b, "dl-1")
	behind := batchOf(3, good)
	behind.BatchId = "dl-2"
	e.publish(t, behind, "dl-2")

	docs := e.waitDocs(t, 5)
	got := map[string]bool{}
	for _, d := range docs {
		got[d["event_id"].(string)] = true
	}
	for _, id := range []string{"fine-same-day", "fine-other-day", "e0", "e1", "e2"} {
		if !got[id] {
			t.Errorf("event %s not indexed (have %v)", id, got)
		}
	}
	if got["refused"] {
		t.Error("the refused event was indexed")
	}
	var letters []map[string]any
	testenv.Eventually(t, 10*time.Second, "the refused event in the dead-letter index", func() bool {
		var err error
		letters, err = e.query(t, eventdoc.DeadLetterPattern(e.prefix))
		return err == nil && len(letters) > 0
	})
	if len(letters) != 1 {
		t.Fatalf("dead letters %v", letters)
	}
	l := letters[0]
	doc, _ := l["document"].(map[string]any)
	if l["event_id"] != "refused" || l["app_id"] != "app-test" || l["error_type"] != "mapper_parsing_exception" ||
		l["status"] != 400.0 || l["failed_at"] == nil || doc["user_id"] != "not-a-number" || !strings.Contains(l["error_reason"].(string), "user_id") {
		t.Fatalf("dead letter %v", l)
	}
	e.waitDrained(t)
	if body := metricsBody(t, e); !strings.Contains(body, `enrich_documents_total{outcome="dead_lettered"} 1`) {
		t.Errorf("dead-letter counter missing:\n%s", grep(body, "enrich_documents_total"))
	}
}

func metricsBody(t *testing.T, e *env) string {
	t.Helper()
	_, b := testenv.Get(t, e.health+"/metrics")
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestEnrichedDocument: the indexed document carries the corrected time, the
// clock-skew facts, the device facts and the country of the client address.
func TestEnrichedDocument(t *testing.T) {
	t.Parallel()
	path := geotest.WriteDB(t, "Test-City", map[string]mmdbtype.Map{"81.2.69.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")},
		"city": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}}}})
	e := startEnrichWith(t, map[string]string{"GEOIP_DB": path})

	received := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	b := &telemetryv1.EventBatch{BatchId: "enriched", AppId: "app-test", ReceivedAt: timestamppb.New(received),
		SentAt: timestamppb.New(received.Add(2 * time.Hour)), ClientIp: "81.2.69.160",
		UserAgent: "Shop/4.2.0 (iPhone15,2; iOS 18.0)",
		Events: []*telemetryv1.Event{{EventId: "x1", UserId: "u1", EventName: "tap", DeviceOs: "iOS 18.1",
			ClientTimestamp: timestamppb.New(received.Add(2*time.Hour - 10*time.Second))}}}
	e.publish(t, b, "enriched")
	docs := e.waitDocs(t, 1)
	if len(docs) != 1 {
		t.Fatalf("%d docs", len(docs))
	}
	d := docs[0]
	wantTS := float64(received.Add(-10 * time.Second).UnixMilli())
	for k, want := range map[string]any{
		"timestamp": wantTS, "clock_skew_ms": 7200000.0, "clock_skewed": true, "country": "GB", "city": "London",
		"os_name": "iOS", "os_version": "18.1", "device_model": "iPhone15,2", "user_agent": "Shop/4.2.0 (iPhone15,2; iOS 18.0)",
	} {
		if d[k] != want {
			t.Errorf("%s = %v, want %v", k, d[k], want)
		}
	}
	if _, ok := d["client_ip"]; ok {
		t.Error("the client address was stored")
	}
}

// TestIndexRefusalIsRetriedNotDeadLettered: the day's index refuses writes
// (index.blocks.write: 403 cluster_block_exception, as a disk watermark or
// an operator would set it). That is no fault of the documents: they are
// retried with back-off, counted and logged, never dead-lettered, no
// delivery is spent, and once the block is lifted each is indexed once.
func TestIndexRefusalIsRetriedNotDeadLettered(t *testing.T) {
	t.Parallel()
	e := startEnrichWith(t, map[string]string{"ENRICH_MAX_BACKOFF": "300ms"})
	day := time.Now().UTC().Add(-time.Hour)
	index := e.prefix + "-" + day.Format("2006.01.02")
	testenv.PutJSON(t, e.osURL, "/"+index, `{"settings":{"index.blocks.write":true}}`)
	e.publish(t, batchOf(5, day), "blocked")

	refusals := `enrich_cluster_refusals_total{error_type="cluster_block_exception"}`
	testenv.Eventually(t, 20*time.Second, "the blocked index refusing the documents again and again (or a dead letter)", func() bool {
		letters, err := e.query(t, eventdoc.DeadLetterPattern(e.prefix))
		return metricValue(metricsBody(t, e), refusals) >= 3*5 || (err == nil && len(letters) > 0)
	})
	if docs, letters := e.docs(t), e.deadLetters(t); len(docs) != 0 || len(letters) != 0 {
		t.Fatalf("while blocked: %d documents, %d dead letters; want none", len(docs), len(letters))
	}
	testenv.PutJSON(t, e.osURL, "/"+index+"/_settings", `{"index.blocks.write":false}`)
	docs := e.waitDocs(t, 5)
	e.waitDrained(t)
	ids := map[string]int{}
	for _, d := range e.docs(t) {
		ids[d["event_id"].(string)]++
	}
	if len(docs) != 5 || len(ids) != 5 {
		t.Fatalf("after the block was lifted: %v", ids)
	}
	if letters := e.deadLetters(t); len(letters) != 0 {
		t.Fatalf("dead letters %v", letters)
	}
	body := metricsBody(t, e)
	if got := metricValue(body, `enrich_messages_total{outcome="redelivered"}`); got != 0 {
		t.Errorf("%v redeliveries; waiting for the index must spend none", got)
	}
	if got := metricValue(body, `enrich_documents_total{outcome="dead_lettered"}`); got != 0 {
		t.Errorf("%v documents dead-lettered", got)
	}
}
