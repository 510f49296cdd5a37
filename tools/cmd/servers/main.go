// Command servers starts, stops and reports on the development servers,
// nats-server with JetStream and a single-node OpenSearch (package
// tools/servers says how); scripts/servers.sh builds and runs it:
//
//	servers [-run DIR] start [nats|opensearch]   start what does not answer yet; wait until ready
//	servers [-run DIR] stop [nats|opensearch]    stop what a PID file in DIR names
//	servers [-run DIR] status [nats|opensearch]  "nats: up at URL" or "... down at URL"
//	servers opensearch-home                      fetch if needed; print where OpenSearch and its Java are
//
// NATS_URL, NATS_MONITOR_PORT, NATS_SERVER_BIN, OPENSEARCH_URL,
// OPENSEARCH_HEAP, OPENSEARCH_RUN_USER and OPENSEARCH_JAVA_HOME configure
// them; DIR (PID files, configs, logs, JetStream's store) defaults to
// .cache/run of the workspace.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/servers"
)

func main() {
	runDir := flag.String("run", "", "PID files, configs, logs and JetStream's store (default: .cache/run of the workspace)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: servers [-run DIR] start|stop|status [nats|opensearch] | opensearch-home\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*runDir, flag.Arg(0), flag.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "servers:", err)
		os.Exit(1)
	}
}

func run(runDir, cmd string, names []string) error {
	root, err := procs.Root()
	if err != nil {
		return err
	}
	cfg, err := servers.Load(os.LookupEnv, root)
	if err != nil {
		return err
	}
	if runDir != "" {
		cfg.RunDir = runDir
	}
	if names, err = servers.Select(names); err != nil {
		return err
	}
	// Ctrl-C ends a start: the server not ready yet is stopped, one ready
	// keeps running (stop ends it).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := servers.NewLog(os.Stderr)
	switch cmd {
	case "start":
		if _, err := servers.Start(ctx, cfg, log, names...); err != nil {
			return err
		}
		log.Printf("ready: NATS_URL=%s OPENSEARCH_URL=%s", cfg.NATSURL, cfg.OpenSearchURL)
	case "stop":
		return servers.Stop(cfg, log, names...)
	case "status":
		servers.Status(ctx, cfg, os.Stdout, names...)
	case "opensearch-home": // for tools that run a node of their own
		d, err := servers.InstallOpenSearch(ctx, cfg, log)
		if err != nil {
			return err
		}
		if d.User != "" {
			fmt.Printf("OPENSEARCH_RUN_USER=%s\n", d.User)
		}
		fmt.Printf("OPENSEARCH_HOME=%s\nOPENSEARCH_BASE=%s\nOPENSEARCH_JAVA_HOME=%s\n", d.Home, d.Base, d.JavaHome)
	default:
		flag.Usage()
		os.Exit(2)
	}
	return nil
}
