// Package serviceenv says what each of the project's binaries reads from its
// environment, taken from the binaries' own configuration loaders, so that a
// file which configures them (docker-compose.yml, the compose files the
// DigitalOcean deployment renders) can be checked against the code: every
// variable it sets is one the binary reads, and the configuration loads.
package serviceenv

import (
	"fmt"
	"slices"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/runner"
	enrich "github.com/evtrack/telemetry/services/enrich/service"
	ingest "github.com/evtrack/telemetry/services/ingest/service"
	query "github.com/evtrack/telemetry/services/query/service"
)

// Service is one of the project's binaries as an image target and a compose
// service (both named like the binary).
type Service struct {
	// Variables names every environment variable the binary reads when its
	// environment is lookup.
	Variables func(config.LookupFunc) []string
	// Load reads the configuration as the binary does.
	Load func(config.LookupFunc) (Loaded, error)
	// Server: a long-running service with /readyz (else a one-shot command).
	Server bool
}

// Loaded is what the checks need from a configuration.
type Loaded struct {
	Listen   []string      // the addresses it listens on
	Shutdown time.Duration // the longest its stop takes
	// IdleTimeout: how long the HTTP server keeps an idle keep-alive
	// connection (0: not an HTTP server behind a balancer).
	IdleTimeout time.Duration
}

// listening is the addresses set among addrs ("" is none).
func listening(addrs ...string) []string {
	return slices.DeleteFunc(addrs, func(a string) bool { return a == "" })
}

// served is the runner.Main reading of a service's environment.
func served[C runner.Config](load func(config.LookupFunc) (C, error)) func(config.LookupFunc) []string {
	return func(l config.LookupFunc) []string { return runner.Variables(runner.Spec[C]{Load: load}, l) }
}

// recorded is what a command that only calls load reads.
func recorded[C any](load func(config.LookupFunc) (C, error)) func(config.LookupFunc) []string {
	return func(l config.LookupFunc) []string {
		var keys []string
		_, _ = load(func(k string) (string, bool) { keys = append(keys, k); return l(k) })
		slices.Sort(keys)
		return slices.Compact(keys)
	}
}

// Services mirrors the cmd/<name>/main.go files: ingest, enrich and query
// run through runner.Main with their service.LoadConfig; deadletters calls
// enrich's LoadConfig and nothing else (no telemetry).
var Services = map[string]Service{
	"ingest": {Variables: served(ingest.LoadConfig), Server: true, Load: func(l config.LookupFunc) (Loaded, error) {
		c, err := ingest.LoadConfig(l)
		return Loaded{listening(c.HTTPAddr, c.GRPCAddr, c.MetricsAddr), c.ShutdownTimeout, c.IdleTimeout}, err
	}},
	"enrich": {Variables: served(enrich.LoadConfig), Server: true, Load: func(l config.LookupFunc) (Loaded, error) {
		c, err := enrich.LoadConfig(l)
		// Stopping, enrich first finishes the bulk requests in hand (each
		// within ENRICH_BULK_TIMEOUT), then stops its suppression lease
		// (5 s at most), then its HTTP server (ENRICH_SHUTDOWN_TIMEOUT).
		return Loaded{[]string{c.HTTPAddr}, c.Pipeline.BulkTimeout + 5*time.Second + c.ShutdownTimeout, 0}, err
	}},
	"query": {Variables: served(query.LoadConfig), Server: true, Load: func(l config.LookupFunc) (Loaded, error) {
		c, err := query.LoadConfig(l)
		return Loaded{listening(c.HTTPAddr, c.GRPCAddr, c.MetricsAddr), c.StopWithin(), c.HTTPIdleTimeout}, err
	}},
	"deadletters": {Variables: recorded(enrich.LoadConfig), Load: func(l config.LookupFunc) (Loaded, error) {
		_, err := enrich.LoadConfig(l)
		return Loaded{}, err
	}},
}

// Check reports what is wrong with env as the environment of the binary
// name: a variable set that the binary does not read (misspelt or removed),
// or a configuration that does not load. Variables in tolerated may be set
// without being read.
func Check(name string, env map[string]string, tolerated ...string) []error {
	svc, ok := Services[name]
	if !ok {
		return []error{fmt.Errorf("%s: not one of the project's binaries", name)}
	}
	lookup := config.MapLookup(env)
	reads := svc.Variables(lookup)
	var errs []error
	for k := range env {
		if !slices.Contains(reads, k) && !slices.Contains(tolerated, k) {
			errs = append(errs, fmt.Errorf("%s: sets %s, which %s does not read (misspelt or removed?)", name, k, name))
		}
	}
	if _, err := svc.Load(lookup); err != nil {
		errs = append(errs, fmt.Errorf("%s: its configuration does not load from this environment: %w", name, err))
	}
	return errs
}
