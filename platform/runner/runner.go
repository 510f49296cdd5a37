// Package runner is the shared shape of every service's main: load config,
// build the logger and OpenTelemetry, build the service, run it until SIGINT
// or SIGTERM, then shut telemetry down last.
//
// The binary also answers two subcommands that containers need, since their
// images have no shell and no curl:
//
//	<binary> healthcheck   GET /readyz on the service's own HTTP listener; exit 0 when ready, 1 when not
//	<binary> version       print the version stamped at build time (-ldflags "-X main.version=…")
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/logging"
	"github.com/evtrack/telemetry/platform/otelx"
)

// Service is what a composition root builds.
type Service interface {
	// Run serves until ctx is cancelled, then shuts down gracefully.
	Run(ctx context.Context) error
}

// Config is what Main reads of a service's loaded configuration.
type Config interface {
	// Level is the log level: debug, info, warn or error.
	Level() string
	// ReadyzAddr is the address of the listener that serves /readyz, where
	// `<binary> healthcheck` asks; empty if the service has none.
	ReadyzAddr() string
}

// Spec describes one service to Main.
type Spec[C Config] struct {
	Name    string
	Version string
	Load    func(config.LookupFunc) (C, error)
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

// Build adapts a service's constructor, which returns its own type, to
// Spec.Build: Build: runner.Build(service.New).
func Build[C any, S Service](newService func(context.Context, C, *slog.Logger, *otelx.Telemetry) (S, error)) func(context.Context, C, *slog.Logger, *otelx.Telemetry) (Service, error) {
	return func(ctx context.Context, c C, log *slog.Logger, tel *otelx.Telemetry) (Service, error) {
		s, err := newService(ctx, c, log, tel)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// Main runs spec and exits the process: 0 after a clean shutdown, 1 on error.
// With the argument healthcheck or version it does that instead of serving.
func Main[C Config](spec Spec[C]) {
	arg := ""
	if len(os.Args) > 1 {
		arg = os.Args[1]
	}
	var err error
	switch arg {
	case "":
		err = run(spec)
	case "healthcheck":
		ctx, cancel := context.WithTimeout(context.Background(), HealthcheckTimeout)
		err = Healthcheck(ctx, spec, os.LookupEnv)
		cancel()
	case "version":
		fmt.Println(spec.Version)
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown argument %q: run without arguments to serve, or with healthcheck or version\n", spec.Name, arg)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		os.Exit(1)
	}
}

// environment is everything Main reads from the process environment.
type environment[C Config] struct {
	cfg                     C
	gogcSet, memoryLimitSet bool
	debugAddr               string
}

// readEnvironment reads every variable Main reads, through lookup, and
// nothing else: Variables records what it asks for.
func readEnvironment[C Config](spec Spec[C], lookup config.LookupFunc) (environment[C], error) {
	var env environment[C]
	_, env.gogcSet = lookup("GOGC")
	_, env.memoryLimitSet = lookup("GOMEMLIMIT")
	env.debugAddr, _ = lookup("DEBUG_ADDR")
	cfg, cerr := spec.Load(lookup)
	env.cfg = cfg
	_, terr := otelx.LoadSettings(lookup) // checked here, with the config; otelx.Setup reads them again
	return env, errors.Join(cerr, terr)
}

// Variables returns, sorted, the name of every environment variable Main
// reads for spec when the environment is lookup (values can decide which
// optional variables are read): the service's configuration, GOGC and
// GOMEMLIMIT, DEBUG_ADDR and the OpenTelemetry exporter's endpoint and
// protocol. A deployment file is checked against it, so that a variable it
// sets that no process reads (a typo, a removed setting) fails a test. Only
// spec.Load is used.
func Variables[C Config](spec Spec[C], lookup config.LookupFunc) []string {
	seen := map[string]bool{}
	_, _ = readEnvironment(spec, func(key string) (string, bool) {
		seen[key] = true
		return lookup(key)
	})
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func run[C Config](spec Spec[C]) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	env, err := readEnvironment(spec, os.LookupEnv)
	if err != nil {
		return err
	}
	if !env.gogcSet && spec.GCPercent != 0 {
		debug.SetGCPercent(spec.GCPercent)
	}
	if !env.memoryLimitSet && spec.MemoryLimit != 0 {
		debug.SetMemoryLimit(spec.MemoryLimit)
	}
	log, err := logging.New(os.Stdout, env.cfg.Level(), spec.Name)
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
	if env.debugAddr != "" {
		stopDebug, err := serveDebug(env.debugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	svc, err := spec.Build(ctx, env.cfg, log, tel)
	if err != nil {
		log.Error("start failed", "error", err)
		return err
	}
	return svc.Run(ctx)
}

// HealthcheckTimeout bounds `<binary> healthcheck` (a container runtime's
// own health-check timeout should be a little longer).
const HealthcheckTimeout = 2 * time.Second

// Healthcheck asks a running instance of spec for /readyz and returns nil
// when it answers 200. The address is the one the service listens on, read
// from lookup exactly as the service reads it (a wildcard host such as ":8080"
// or "0.0.0.0:8080" is asked on 127.0.0.1). Other configuration problems are
// not the probe's business: the server validated its configuration at start.
func Healthcheck[C Config](ctx context.Context, spec Spec[C], lookup config.LookupFunc) error {
	cfg, _ := spec.Load(lookup) // the address is read whatever else is wrong
	if cfg.ReadyzAddr() == "" {
		return fmt.Errorf("healthcheck: %s declares no HTTP listener", spec.Name)
	}
	url, err := readyURL(cfg.ReadyzAddr())
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, res.Status, body)
	}
	return nil
}

// readyURL is the /readyz URL of a server listening on addr.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
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
	// A CPU profile takes 30 s by default: writes may take longer.
	t := health.DefaultServerTimeouts
	t.Write = 2 * time.Minute
	srv := health.NewServer(mux, t)
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
