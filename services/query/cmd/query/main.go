// Command query is the support-staff search API (gRPC and HTTP/JSON) over the event indices.
package main

import (
	"github.com/evtrack/telemetry/platform/runner"
	"github.com/evtrack/telemetry/services/query/service"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runner.Main(runner.Spec[service.Config]{
		Name:    "query",
		Version: version,
		Load:    service.LoadConfig,
		Build:   runner.Build(service.New),
		// A few MiB live, a page's JSON decoded and encoded per call: collect
		// less often (a quarter less CPU a query, BENCHMARKS.md "Cost per
		// event")…
		GCPercent: 400,
		// …but collect harder past 256 MiB (override with GOMEMLIMIT).
		MemoryLimit: 256 << 20,
	})
}
