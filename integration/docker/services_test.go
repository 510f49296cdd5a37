// Package docker checks the container images and docker-compose.yml against
// the services they run: compose_test.go reads the files (no daemon needed),
// containers_test.go builds the images on a private Docker daemon and runs
// them against the real NATS and OpenSearch.
package docker

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/runner"
	enrich "github.com/evtrack/telemetry/services/enrich/service"
	ingest "github.com/evtrack/telemetry/services/ingest/service"
	query "github.com/evtrack/telemetry/services/query/service"
)

// goService is one of the project's binaries as an image target and a
// compose service (both named like the binary): what it reads from its
// environment, taken from its own configuration loader.
type goService struct {
	// variables names every environment variable the binary reads when its
	// environment is lookup.
	variables func(config.LookupFunc) []string
	// load reads the configuration as the binary does.
	load func(config.LookupFunc) (loaded, error)
	// server: a long-running service with /readyz (else a one-shot command).
	server bool
}

// loaded is what the checks need from a configuration.
type loaded struct {
	listen   []string // the addresses it listens on
	shutdown time.Duration
}

// served is the runner.Main reading of a service's environment.
func served[C any](load func(config.LookupFunc) (C, error)) func(config.LookupFunc) []string {
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

// goServices mirrors the cmd/<name>/main.go files: ingest, enrich and query
// run through runner.Main with their service.LoadConfig; deadletters calls
// enrich's LoadConfig and nothing else (no telemetry).
var goServices = map[string]goService{
	"ingest": {variables: served(ingest.LoadConfig), server: true, load: func(l config.LookupFunc) (loaded, error) {
		c, err := ingest.LoadConfig(l)
		return loaded{[]string{c.HTTPAddr, c.GRPCAddr}, c.ShutdownTimeout}, err
	}},
	"enrich": {variables: served(enrich.LoadConfig), server: true, load: func(l config.LookupFunc) (loaded, error) {
		c, err := enrich.LoadConfig(l)
		return loaded{[]string{c.HTTPAddr}, c.ShutdownTimeout}, err
	}},
	"query": {variables: served(query.LoadConfig), server: true, load: func(l config.LookupFunc) (loaded, error) {
		c, err := query.LoadConfig(l)
		return loaded{[]string{c.HTTPAddr, c.GRPCAddr}, c.ShutdownTimeout}, err
	}},
	"deadletters": {variables: recorded(enrich.LoadConfig), load: func(l config.LookupFunc) (loaded, error) {
		_, err := enrich.LoadConfig(l)
		return loaded{}, err
	}},
}

// ports returns the port of each address.
func ports(t *testing.T, addrs []string) []string {
	t.Helper()
	var out []string
	for _, a := range addrs {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatalf("listen address %q: %v", a, err)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// repoRoot is the repository's root (this package is integration/docker).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

// readEnvFile reads KEY=VALUE lines (blank lines and # comments skipped),
// as scripts/versions.env and .env.example are written.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}
