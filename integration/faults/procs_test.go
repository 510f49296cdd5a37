// Package faults runs the services as real processes on 127.0.0.1, injects
// faults under load — killed and restarted processes, a broker outage, a
// slow OpenSearch, hostile input — and checks the end-to-end accounting:
// every event answered 202 is in OpenSearch exactly once.
package faults

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/promscrape"
	"github.com/evtrack/telemetry/platform/testenv"
)

// bins holds the service binaries, built once for the package.
var bins map[string]string

func TestMain(m *testing.M) {
	testenv.MainBuilding(m, &bins, "../..", "./services/ingest/cmd/ingest", "./services/enrich/cmd/enrich")
}

// restart starts p's command again.
func restart(t *testing.T, p *procs.Proc) {
	t.Helper()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
}

// rssBytes is the process's resident set size (VmRSS), 0 if it is gone.
func rssBytes(p *procs.Proc) int64 {
	m, _ := p.Memory()
	return m.RSS
}

// peakRSSBytes is the process's peak resident set size (VmHWM), 0 if it is
// gone.
func peakRSSBytes(p *procs.Proc) int64 {
	m, _ := p.Memory()
	return m.Peak
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, url string, within time.Duration) {
	t.Helper()
	if err := procs.WaitHTTP(context.Background(), url, within, procs.OK); err != nil {
		t.Fatal(err)
	}
}

// waitProcReady polls p's url until it answers 200; it fails at once if p
// exits, with p's last log lines.
func waitProcReady(t *testing.T, p *procs.Proc, url string, within time.Duration) {
	t.Helper()
	if err := p.WaitHTTP(context.Background(), url, within, procs.OK); err != nil {
		t.Fatal(err)
	}
}

// metric sums the samples of the metric name on a Prometheus text endpoint
// that carry every one of labels; -1 if the endpoint does not answer.
func metric(url, name string, labels promscrape.Labels) float64 {
	fams, err := promscrape.Scrape(context.Background(), &http.Client{Timeout: 5 * time.Second}, url)
	if err != nil {
		return -1
	}
	sum, _ := fams.Sum(name, labels)
	return sum
}
