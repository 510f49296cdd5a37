// Package runner is the shared shape of every service's main: load config,
// build the logger and OpenTelemetry, build the service, run it until SIGINT
// or SIGTERM, then shut telemetry down last.
package runner

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/logging"
	"github.com/evtrack/telemetry/platform/otelx"
)

// Service is what a composition root builds.
type Service interface {
	// Run serves until ctx is cancelled, then shuts down gracefully.
	Run(ctx context.Context) error
}

// Spec describes one service to Main.
type Spec[C any] struct {
	Name    string
	Version string
	Load    func(config.LookupFunc) (C, error)
	// LogLevel picks the level out of the loaded config.
	LogLevel func(C) string
	// GCPercent, when not 0, is the garbage collector's target used unless
	// the GOGC environment variable says otherwise. Services with a small
	// live heap and a high allocation rate trade a little memory for far
	// fewer collections.
	GCPercent int
	// MemoryLimit, when not 0, is the Go runtime's soft memory limit (bytes)
	// used unless GOMEMLIMIT says otherwise: with a high GCPercent it keeps a
	// burst of large requests from letting the heap grow unchecked.
	MemoryLimit int64
	Build       func(context.Context, C, *slog.Logger, *otelx.Telemetry) (Service, error)
}

// Main runs spec and exits the process: 0 after a clean shutdown, 1 on error.
func Main[C any](spec Spec[C]) {
	if err := run(spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		os.Exit(1)
	}
}

func run[C any](spec Spec[C]) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, set := os.LookupEnv("GOGC"); !set && spec.GCPercent != 0 {
		debug.SetGCPercent(spec.GCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && spec.MemoryLimit != 0 {
		debug.SetMemoryLimit(spec.MemoryLimit)
	}
	cfg, err := spec.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stdout, spec.LogLevel(cfg), spec.Name)
	if err != nil {
		return err
	}
	tel, err := otelx.Setup(ctx, os.LookupEnv, spec.Name, spec.Version)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", "error", err)
		}
	}()
	if addr := os.Getenv("DEBUG_ADDR"); addr != "" {
		stopDebug, err := serveDebug(addr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	svc, err := spec.Build(ctx, cfg, log, tel)
	if err != nil {
		log.Error("start failed", "error", err)
		return err
	}
	return svc.Run(ctx)
}

// serveDebug serves Go's pprof profiles on addr (keep it on loopback or a
// private network: profiles reveal internals).
func serveDebug(addr string, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("DEBUG_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
