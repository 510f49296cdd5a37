// Package docker checks the container images and docker-compose.yml against
// the services they run: compose_test.go reads the files (no daemon needed),
// containers_test.go builds the images on a private Docker daemon and runs
// them against the real NATS and OpenSearch.
package docker

import (
	"bufio"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/integration/serviceenv"
)

// goServices are the project's binaries and what each reads from its
// environment (shared with the DigitalOcean deployment's checks).
var goServices = serviceenv.Services

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
