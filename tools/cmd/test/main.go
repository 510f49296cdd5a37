// Command test runs the project's tests (`make test`; package tools/testrun
// says what each mode runs and which servers it starts):
//
//	test [all|faults|cluster|docker|deploy|swift]
//
// NATS_URL and OPENSEARCH_URL (and the other variables of package
// tools/servers) say where the servers answer; KEEP_SERVERS=1 leaves those it
// started running. Ctrl-C stops what it started.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/testrun"
)

func main() {
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: test [all|faults|cluster|docker|deploy|swift]")
		os.Exit(2)
	}
	if err := run(append(os.Args[1:], "")[0]); err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		os.Exit(1)
	}
}

func run(mode string) error {
	root, err := procs.Root()
	if err != nil {
		return err
	}
	cfg, err := testrun.Load(os.LookupEnv, root, mode)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return testrun.Run(ctx, cfg, os.Stderr)
}
