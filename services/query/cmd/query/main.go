// Command query is the support-staff search API (gRPC and HTTP/JSON) over the event indices.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/platform/logging"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/services/query/service"
)

var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "query:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := service.LoadConfig(os.LookupEnv)
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stdout, cfg.LogLevel, "query")
	if err != nil {
		return err
	}
	tel, err := otelx.Setup(ctx, os.LookupEnv, "query", version)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	svc, err := service.New(ctx, cfg, log, tel)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
