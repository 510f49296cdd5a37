// Command devrun is `make run` (package tools/devrun): NATS, OpenSearch,
// ingest, enrich and query on this machine with development keys, until
// Ctrl-C. `devrun cluster` is `make run-cluster`: 3-node NATS JetStream and
// OpenSearch clusters and two instances of each service.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/devrun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := procs.Root()
	if err != nil {
		return err
	}
	// Ctrl-C ends the run: the services stop, then the servers it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case len(os.Args) == 1:
		return devrun.Run(ctx, root, devrun.Dirs{}, os.Environ(), os.Stdout, os.Stderr)
	case len(os.Args) == 2 && os.Args[1] == "cluster":
		return devrun.RunCluster(ctx, root, devrun.Dirs{}, os.Environ(), os.Stdout, os.Stderr)
	}
	return fmt.Errorf("usage: devrun [cluster]")
}
