// Command dashboards imports the analysts' saved objects
// (opensearch/dashboards/*.ndjson: index patterns, saved searches,
// visualizations, dashboards) into OpenSearch Dashboards, overwriting
// earlier versions (keeping the scripted fields and field formats analysts
// added to the shipped index patterns), and exits non-zero unless every
// object was imported.
// `make dashboards` runs it.
//
//	go run ./tools/cmd/dashboards -url http://127.0.0.1:5601
//	go run ./tools/cmd/dashboards -out telemetry-dashboards.ndjson   # write the file for a manual import
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/evtrack/telemetry/opensearch/dashboards"
	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/credentials"
	"github.com/evtrack/telemetry/tools/savedobjects"
)

func main() {
	url := flag.String("url", env("DASHBOARDS_URL", "http://127.0.0.1:5601"), "Dashboards base URL, with its basePath if any (or DASHBOARDS_URL)")
	prefix := flag.String("prefix", env("EVENTS_INDEX_PREFIX", templates.DefaultEventsPrefix), "events index prefix the index patterns name (or EVENTS_INDEX_PREFIX)")
	wait := flag.Duration("wait", 0, "keep retrying this long while Dashboards is unreachable or starting (503)")
	out := flag.String("out", "", "write the import file here instead of importing")
	flag.Parse()

	set, err := dashboards.Load()
	if err != nil {
		fail(2, err)
	}
	file, n, err := set.NDJSON(*prefix)
	if err != nil {
		fail(2, err)
	}
	if *out != "" {
		if err := os.WriteFile(*out, file, 0o644); err != nil {
			fail(1, err)
		}
		fmt.Printf("dashboards: wrote %d saved objects for index prefix %s to %s\n", n, *prefix, *out)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	im := &savedobjects.Importer{URL: *url, Username: os.Getenv("DASHBOARDS_USERNAME"), Password: os.Getenv("DASHBOARDS_PASSWORD"), Wait: *wait}
	start := time.Now()
	res, err := im.Import(ctx, "telemetry-dashboards.ndjson", file, n)
	if err != nil {
		fail(1, err)
	}
	fmt.Printf("dashboards: imported %d saved objects into %s for index prefix %s in %v\n", res.SuccessCount, credentials.RedactURLs(*url), *prefix, time.Since(start).Round(time.Millisecond))
	for _, k := range res.Kept {
		fmt.Printf("dashboards: kept what analysts added: %s\n", k)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "dashboards:", err)
	os.Exit(code)
}
