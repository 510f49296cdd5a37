package promscrape

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const exposition = `# HELP enrich_messages_total Messages by outcome.
# TYPE enrich_messages_total counter
enrich_messages_total{outcome="acked",stream="A"} 12
enrich_messages_total{outcome="acked",stream="B"} 3
enrich_messages_total{outcome="nacked",stream="A"} 1
# HELP enrich_consumer_pending_messages Messages not yet delivered.
# TYPE enrich_consumer_pending_messages gauge
enrich_consumer_pending_messages 42
# TYPE enrich_consumer_pending_messages_total_like gauge
enrich_consumer_pending_messages_total_like 7
# TYPE ingest_request_seconds histogram
ingest_request_seconds_bucket{le="0.1"} 5
ingest_request_seconds_bucket{le="+Inf"} 6
ingest_request_seconds_sum 0.3
ingest_request_seconds_count 6
`

func TestSum(t *testing.T) {
	fams, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		metric string
		labels Labels
		want   float64
		wantOK bool
	}{
		{"all series of a counter", "enrich_messages_total", nil, 16, true},
		{"one label", "enrich_messages_total", Labels{"outcome": "acked"}, 15, true},
		{"two labels", "enrich_messages_total", Labels{"outcome": "acked", "stream": "B"}, 3, true},
		{"no series matches", "enrich_messages_total", Labels{"outcome": "dropped"}, 0, true},
		{"unlabelled gauge, not a longer name", "enrich_consumer_pending_messages", nil, 42, true},
		{"missing metric", "enrich_consumer_ack_pending_messages", nil, 0, false},
		{"a histogram has no single value", "ingest_request_seconds", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fams.Sum(tt.metric, tt.labels)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("got %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := Parse(strings.NewReader("enrich_messages_total{outcome=acked} 1\n")); err == nil {
		t.Fatal("parsed an unquoted label value")
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(exposition))
	}))
	defer srv.Close()
	fams, err := Scrape(context.Background(), srv.Client(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := fams.Sum("enrich_consumer_pending_messages", nil); v != 42 {
		t.Fatalf("pending %v", v)
	}
	if _, err := Scrape(context.Background(), srv.Client(), srv.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("404: %v", err)
	}
}

func TestHistogramQuantileBetweenScrapes(t *testing.T) {
	const before = `# TYPE req_seconds histogram
req_seconds_bucket{route="a",le="0.001"} 10
req_seconds_bucket{route="a",le="0.01"} 10
req_seconds_bucket{route="a",le="+Inf"} 10
req_seconds_sum{route="a"} 0.005
req_seconds_count{route="a"} 10
`
	const after = `# TYPE req_seconds histogram
req_seconds_bucket{route="a",le="0.001"} 60
req_seconds_bucket{route="a",le="0.01"} 100
req_seconds_bucket{route="a",le="+Inf"} 110
req_seconds_sum{route="a"} 1
req_seconds_count{route="a"} 110
req_seconds_bucket{route="b",le="0.001"} 100
req_seconds_bucket{route="b",le="0.01"} 100
req_seconds_bucket{route="b",le="+Inf"} 100
req_seconds_sum{route="b"} 0.01
req_seconds_count{route="b"} 100
`
	hist := func(text string, want Labels) Histogram {
		t.Helper()
		fams, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		h, ok := fams.Histogram("req_seconds", want)
		if !ok {
			t.Fatal("no histogram req_seconds")
		}
		return h
	}
	a := Labels{"route": "a"}
	d := hist(after, a).Since(hist(before, a)) // 50 ≤ 1 ms, 40 in (1, 10] ms, 10 beyond
	tests := []struct {
		name string
		q    float64
		want float64
	}{
		{"within the first bucket, from 0", 0.25, 0.0005},
		{"at a bound", 0.5, 0.001},
		{"interpolated in the middle bucket", 0.7, 0.001 + 0.009*20/40},
		{"in the +Inf bucket: the highest finite bound", 0.99, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Quantile(tt.q); math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("Quantile(%v) = %v, want %v (counts %v)", tt.q, got, tt.want, d.Counts)
			}
		})
	}
	if got := d.Count(); got != 100 {
		t.Fatalf("Count = %v, want 100", got)
	}
	if both := hist(after, nil); both.Count() != 210 {
		t.Fatalf("both routes: Count = %v, want 210", both.Count())
	}
	if q := (Histogram{}).Quantile(0.5); !math.IsNaN(q) {
		t.Fatalf("no observations: %v, want NaN", q)
	}
	fams, _ := Parse(strings.NewReader(exposition))
	if _, ok := fams.Histogram("enrich_messages_total", nil); ok {
		t.Fatal("a counter read as a histogram")
	}
}
