// Command deadletters replays the documents OpenSearch refused, once their
// cause is fixed. It reads the same environment as enrich (OPENSEARCH_URL,
// OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD, EVENTS_INDEX_PREFIX,
// ENRICH_RETENTION) and prints a JSON report:
//
//	deadletters -dry-run                       count what would be replayed
//	deadletters                                replay every dead letter
//	deadletters -app shop -error-type strict_dynamic_mapping_exception
//	deadletters -version                       print the version stamped at build time
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/deadletter"
	"github.com/evtrack/telemetry/services/enrich/service"
)

// version is stamped at build time: -ldflags "-X main.version=…".
// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	app := flag.String("app", "", "only this app id's dead letters")
	errorType := flag.String("error-type", "", "only dead letters with this OpenSearch error type")
	dryRun := flag.Bool("dry-run", false, "count, change nothing")
	printVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *printVersion {
		fmt.Println(version)
		return
	}
	if err := run(*app, *errorType, *dryRun); err != nil {
		fmt.Fprintln(os.Stderr, "deadletters:", err)
		os.Exit(1)
	}
}

func run(app, errorType string, dryRun bool) error {
	cfg, err := service.LoadConfig(os.LookupEnv)
	if err != nil {
		return err
	}
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: cfg.OpenSearchURL, Username: cfg.OpenSearchUser, Password: cfg.OpenSearchPassword})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := deadletter.New(bulk.NewDeadLetters(osc), cfg.Pipeline.IndexPrefix, cfg.Retention).
		Replay(ctx, deadletter.Filter{AppID: app, ErrorType: errorType}, dryRun)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	return err
}
