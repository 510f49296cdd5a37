// Command deadletters replays the documents OpenSearch refused, once their
// cause is fixed. It reads the same environment as enrich (OPENSEARCH_URL,
// OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD, EVENTS_INDEX_PREFIX,
// ENRICH_RETENTION, NATS_URL, SUPPRESSION_BUCKET) and prints a JSON report.
// Letters of people deleted on request are deleted, not replayed (it takes
// part in the deletions' handshake as an enrich instance does):
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
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/suppression"
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
	replayer := deadletter.New(bulk.NewDeadLetters(osc), cfg.Pipeline.IndexPrefix, cfg.Retention)
	if !dryRun {
		log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		set, done, err := suppressions(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer done()
		replayer.Suppress(set, cfg.Pipeline.BulkTimeout)
	}
	rep, err := replayer.Replay(ctx, deadletter.Filter{AppID: app, ErrorType: errorType}, dryRun)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
	return err
}

// suppressions loads the suppression list and publishes the replay's status
// until done is called.
func suppressions(ctx context.Context, cfg service.Config, log *slog.Logger) (*suppression.Set, func(), error) {
	nc, err := natsx.Connect(ctx, cfg.NATSURL, "deadletters", log)
	if err != nil {
		return nil, nil, err
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream context: %w", err)
	}
	b, err := suppression.Open(ctx, js, cfg.SuppressionBucket, cfg.SuppressionReplicas)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	set, stopWatch, err := suppression.Watch(ctx, b, suppression.SetConfig{Heartbeat: time.Second, Lease: cfg.SuppressionLease,
		WriteBound: 2 * cfg.Pipeline.BulkTimeout}, log)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { set.Run(runCtx); close(ran) }()
	return set, func() {
		cancel()
		<-ran
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		stopWatch(sctx)
		c()
		natsx.Close(sctx, nc, log)
	}, nil
}
