// Command enrich is the durable JetStream consumer that indexes events into OpenSearch.
package main

import (
	"github.com/evtrack/telemetry/platform/runner"
	"github.com/evtrack/telemetry/services/enrich/service"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runner.Main(runner.Spec[service.Config]{
		Name:    "enrich",
		Version: version,
		Load:    service.LoadConfig,
		Build:   runner.Build(service.New),
		// Tens of MiB live (the batches in hand), every document built and
		// sent once: collect less often, so the CPU goes to OpenSearch.
		GCPercent: 400,
		// …but collect harder past 512 MiB (override with GOMEMLIMIT).
		MemoryLimit: 512 << 20,
	})
}
