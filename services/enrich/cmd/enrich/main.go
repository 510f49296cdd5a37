// Command enrich is the durable JetStream consumer that indexes events into OpenSearch.
package main

import (
	"context"
	"log/slog"

	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/runner"
	"github.com/evtrack/telemetry/services/enrich/service"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runner.Main(runner.Spec[service.Config]{
		Name:     "enrich",
		Version:  version,
		Load:     service.LoadConfig,
		LogLevel: func(c service.Config) string { return c.LogLevel },
		HTTPAddr: func(c service.Config) string { return c.HTTPAddr },
		// Tens of MiB live (the batches in hand), every document built and
		// sent once: collect less often, so the CPU goes to OpenSearch.
		GCPercent: 400,
		// …but collect harder past 512 MiB (override with GOMEMLIMIT).
		MemoryLimit: 512 << 20,
		Build: func(ctx context.Context, c service.Config, log *slog.Logger, tel *otelx.Telemetry) (runner.Service, error) {
			return service.New(ctx, c, log, tel)
		},
	})
}
