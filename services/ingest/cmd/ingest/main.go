// Command ingest is the front door: POST /v1/track → NATS JetStream.
package main

import (
	"context"
	"log/slog"

	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/runner"
	"github.com/evtrack/telemetry/services/ingest/service"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runner.Main(runner.Spec[service.Config]{
		Name:     "ingest",
		Version:  version,
		Load:     service.LoadConfig,
		LogLevel: func(c service.Config) string { return c.LogLevel },
		HTTPAddr: func(c service.Config) string { return c.HTTPAddr },
		// A few MiB live, hundreds of MiB/s allocated: collect less often.
		GCPercent: 400,
		// …but collect harder past 256 MiB (override with GOMEMLIMIT).
		MemoryLimit: 256 << 20,
		Build: func(ctx context.Context, c service.Config, log *slog.Logger, tel *otelx.Telemetry) (runner.Service, error) {
			return service.New(ctx, c, log, tel)
		},
	})
}
