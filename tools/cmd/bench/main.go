// Command bench measures the platform against its ceilings on this machine
// (`make bench`; package tools/bench says what each part measures):
//
//	bench [-short] [ingest|segment|stream|pipeline|query|cost|delete|scaling|all ...]
//
// Results go to .cache/bench/<time>/; the summary is printed at the end and
// BENCH_WRITE=1 rewrites BENCHMARKS.md. Everything it starts it stops, also
// on error and on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/bench"
)

func main() {
	short := flag.Bool("short", false, "a smoke run: a few seconds a point and small data sets (proves the bench works; measures nothing worth keeping)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: bench [-short] [ingest|segment|stream|pipeline|query|cost|delete|scaling|all ...]\n\n")
		flag.PrintDefaults()
		fmt.Fprintf(os.Stderr, "\nenvironment:\n")
		for _, t := range bench.Tunables() {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", t.Name, t.Help)
		}
	}
	flag.Parse()
	if err := run(*short, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(short bool, args []string) error {
	parts, err := bench.Parts(args)
	if err != nil {
		return err
	}
	cfg, err := bench.Load(os.LookupEnv, short)
	if err != nil {
		return err
	}
	root, err := procs.Root()
	if err != nil {
		return err
	}
	// Ctrl-C ends the run: what it started is stopped before it exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench.Run(ctx, cfg, root, parts, os.Stdout, os.Stderr)
}
