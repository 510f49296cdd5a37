// Package testrun runs the project's tests as `make test` does: the static
// checks, every Go test against a real nats-server (JetStream) and a real
// OpenSearch node that it starts unless they answer already, the Swift SDK's
// tests, the cluster-mode and container tests, and a short fuzzing of the
// ingest decoders. Servers it started are stopped when it ends (unless
// KEEP_SERVERS is set); servers that were running are left alone.
//
// What takes long without needing a core starts at once, in the background:
// OpenSearch's JVM, the Swift toolchain and the third-party SDKs install
// while the static checks run.
package testrun

import (
	"fmt"
	"slices"
	"strings"
)

// Mode names a part of the tests; All is every part.
type Mode string

// The modes (`make test-<mode>`).
const (
	All     Mode = "all"
	Faults  Mode = "faults"  // integration/faults: real processes killed under load
	Cluster Mode = "cluster" // integration/cluster: 3 NATS + 3 OpenSearch nodes under faults
	Docker  Mode = "docker"  // integration/docker: the images built and run on a private engine
	Deploy  Mode = "deploy"  // integration/digitalocean: deploy/digitalocean checked offline
	Swift   Mode = "swift"   // clients/swift, its end-to-end test and the shared fixtures
)

// Modes are every mode, All first.
var Modes = []Mode{All, Faults, Cluster, Docker, Deploy, Swift}

// ParseMode reads a mode; the empty string is All.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return All, nil
	}
	if m := Mode(s); slices.Contains(Modes, m) {
		return m, nil
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("no test mode %q (want %s)", s, strings.Join(names, ", "))
}

// plan is what a mode runs, in this order: lint; go test -race over
// packages (but integration/docker and integration/cluster, which run alone
// below it: building images wants both cores, the cluster test runs six
// servers); the Swift SDK's tests; the fixtures' Go side; the cluster test;
// the container test; the fuzzing.
type plan struct {
	lint     bool
	packages []string // go list patterns; "" means every module of the workspace
	swift    bool     // install the toolchain meanwhile, then swift test
	sdks     bool     // install the third-party SDKs meanwhile (integration/segment)
	fixtures bool     // ingest's side of contracts/fixtures, after the Swift tests
	cluster  bool
	docker   bool // installs Debian's docker.io when dockerd is missing
	deploy   bool // installs Debian's cloud-init when it is missing
	fuzz     bool
}

func planFor(m Mode) plan {
	switch m {
	case Faults:
		return plan{packages: []string{"./integration/faults/..."}}
	case Cluster:
		return plan{cluster: true}
	case Docker:
		return plan{docker: true}
	case Deploy:
		return plan{packages: []string{"./integration/digitalocean/..."}, deploy: true}
	case Swift:
		return plan{packages: []string{"./integration/swift/...", "./contracts/fixtures/..."}, swift: true, fixtures: true}
	default:
		return plan{lint: true, packages: []string{""}, swift: true, sdks: true, cluster: true, docker: true, deploy: true, fuzz: true}
	}
}

// alone are the packages that never run with the others (see plan).
var alone = []string{"/integration/docker", "/integration/cluster"}

// together drops from a `go list` output the packages that run alone.
func together(listed string) []string {
	var pkgs []string
	for _, p := range strings.Fields(listed) {
		if !slices.ContainsFunc(alone, func(suffix string) bool { return strings.HasSuffix(p, suffix) }) {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}
