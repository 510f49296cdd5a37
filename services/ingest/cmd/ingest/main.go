// Command ingest is the front door: POST /v1/track → NATS JetStream.
package main

import (
	"github.com/evtrack/telemetry/platform/runner"
	"github.com/evtrack/telemetry/services/ingest/service"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runner.Main(runner.Spec[service.Config]{
		Name:    "ingest",
		Version: version,
		Load:    service.LoadConfig,
		Build:   runner.Build(service.New),
		// A few MiB live, hundreds of MiB/s allocated: collect less often.
		GCPercent: 400,
		// …but collect harder past 256 MiB (override with GOMEMLIMIT).
		MemoryLimit: 256 << 20,
	})
}
