// Package devrun is `make run`: it starts NATS and OpenSearch unless they
// answer already (tools/servers), builds and starts ingest, enrich and query
// with development keys (defaults), prints their URLs and curl examples that
// work, and on Ctrl-C stops the services, then the servers it started.
// Geo facts come from a CC0 database fetched once (GeoIP) unless GEOIP_DB
// names one, or is "off".
package devrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/servers"
)

// readyWithin bounds each service's start.
const readyWithin = time.Minute

// services are the platform's, in start order, with the variable holding
// each one's HTTP address.
var services = [][2]string{{"ingest", "INGEST_HTTP_ADDR"}, {"enrich", "ENRICH_HTTP_ADDR"}, {"query", "QUERY_HTTP_ADDR"}}

// Dirs are where Run keeps its files; empty ones default under the
// workspace's .cache.
type Dirs struct {
	Run string // the services' logs; the servers' PID files, configs and logs (.cache/run)
	Bin string // the services' binaries (.cache/bin)
}

// Run runs the platform in root's workspace with the environment environ
// until ctx ends (nil: a clean stop) or a service exits (an error). Progress
// goes to progress, the URLs and examples to stdout.
func Run(ctx context.Context, root string, dirs Dirs, environ []string, stdout, progress io.Writer) (err error) {
	env := Env(environ)
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "run: "+format+"\n", args...) }
	cfg, err := servers.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, root)
	if err != nil {
		return err
	}
	if dirs.Run != "" {
		cfg.RunDir = dirs.Run
	}
	if dirs.Bin == "" {
		dirs.Bin = filepath.Join(root, ".cache", "bin")
	}
	serverLog := servers.NewLog(progress)
	started, err := servers.Start(ctx, cfg, serverLog, servers.Names...)
	defer func() {
		if env["KEEP_SERVERS"] == "" {
			err = errors.Join(err, servers.Stop(cfg, serverLog, started...))
		}
	}()
	if err != nil {
		return err
	}

	bins, err := buildServices(ctx, root, dirs.Bin, env, logf)
	if err != nil {
		return err
	}
	group := &procs.Group{}
	defer func() {
		logf("stopping services")
		err = errors.Join(err, group.StopAll())
	}()
	exited := make(chan *procs.Proc, len(services))
	for _, s := range services {
		log := filepath.Join(cfg.RunDir, s[0]+".log")
		if err := os.Remove(log); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		p, err := group.Start(procs.Spec{Name: s[0], Path: bins[s[0]], Env: env, LogPath: log})
		if err != nil {
			return err
		}
		go func() { <-p.Done(); exited <- p }()
		if err := p.WaitHTTP(ctx, "http://"+env[s[1]]+"/readyz", readyWithin, procs.OK); err != nil {
			return fmt.Errorf("%w\n(log: %s)", err, log)
		}
	}
	fmt.Fprint(stdout, Message(env, cfg.RunDir, time.Now()))
	return untilStopped(ctx, exited, progress, func(name string) string { return filepath.Join(cfg.RunDir, name+".log") })
}

// untilStopped waits for the end (ctx: Ctrl-C) or for a process to exit,
// which is an error that says where to look (logs, by the process's name).
func untilStopped(ctx context.Context, exited <-chan *procs.Proc, progress io.Writer, logs func(name string) string) error {
	select {
	case <-ctx.Done():
		fmt.Fprintln(progress)
		return nil
	case p := <-exited:
		_, exit := p.Exited()
		return fmt.Errorf("%s exited (%v); see %s", p.Name(), exit, logs(p.Name()))
	}
}

// buildServices settles GEOIP_DB in env — "off": none; unset: the
// database GeoIP fetches, or none if it cannot — and builds the services'
// binaries into dir, by name.
func buildServices(ctx context.Context, root, dir string, env map[string]string, logf func(string, ...any)) (map[string]string, error) {
	switch env["GEOIP_DB"] {
	case "off": // no fetch, no geo facts
		delete(env, "GEOIP_DB")
	case "":
		if db, err := GeoIP(ctx, root); err == nil {
			env["GEOIP_DB"] = db
		} else {
			logf("no geo database (%v); geo enrichment off", err)
		}
	}
	logf("building services")
	var pkgs []string
	for _, s := range services {
		pkgs = append(pkgs, "./services/"+s[0]+"/cmd/"+s[0])
	}
	return procs.Build(ctx, root, dir, pkgs...)
}
