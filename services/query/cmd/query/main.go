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
		Name:        "query",
		Version:     version,
		Load:        service.LoadConfig,
		Build:       runner.Build(service.New),
		GCPercent:   service.GCPercent,
		MemoryLimit: service.MemoryLimit,
	})
}
