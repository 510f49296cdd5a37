package digitalocean

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"

	"github.com/evtrack/telemetry/integration/serviceenv"
)

// pendingVariables are set by the rendered compose files ahead of the
// services reading them (none now; the test fails if a service reads a
// variable listed here, so the list cannot go stale).
var pendingVariables []string

// secretVariables may be set only through the secrets env files (0600).
var secretVariables = []string{"INGEST_WRITE_KEYS", "QUERY_TOKENS", "QUERY_PAGE_TOKEN_KEY", "QUERY_PAGE_TOKEN_PREVIOUS_KEYS",
	"OPENSEARCH_PASSWORD", "OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"}

// renderedNodes renders every Droplet's files in both OpenSearch modes.
func renderedNodes(t *testing.T) map[string][]*node {
	t.Helper()
	dir := terraformDir(t)
	out := map[string][]*node{}
	for _, m := range modes {
		for _, n := range nodes(m) {
			if err := n.render(dir); err != nil {
				t.Fatal(err)
			}
			out[m.name] = append(out[m.name], n)
		}
	}
	return out
}

// writeFiles lays n's files out as the Droplet has them under /opt/evtrack
// (the compose project directory), in a temporary directory, with the .env
// prepare.sh writes at boot. It returns that directory.
func writeFiles(t *testing.T, n *node) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range n.files {
		rel, ok := strings.CutPrefix(f.path, "/opt/evtrack/")
		if !ok {
			continue
		}
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("PRIVATE_IP="+testPrivateIP+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadProject loads a compose file as `docker compose` does on the Droplet:
// the official schema, interpolation from .env, env_file read, the
// consistency checks, every profile enabled, nothing from this process's
// environment.
func loadProject(t *testing.T, dir, file string, envFiles ...string) *types.Project {
	t.Helper()
	project, err := serviceenv.LoadCompose(context.Background(), dir, file, true, envFiles...)
	if err != nil {
		t.Fatal(err)
	}
	return project
}

func envMap(svc types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			m[k] = *v
		}
	}
	return m
}

func TestRenderedComposeFiles(t *testing.T) {
	root := filepath.Join(terraformDir(t), "..", "..", "..")
	reference := loadProject(t, root, "docker-compose.yml", filepath.Join(root, ".env.example"))
	lbIdle := balancerIdleTimeouts(t)
	for modeName, ns := range renderedNodes(t) {
		for _, n := range ns {
			t.Run(modeName+"/"+n.name, func(t *testing.T) {
				dir := writeFiles(t, n)
				project := loadProject(t, dir, "compose.yaml")
				composeText, _ := os.ReadFile(filepath.Join(dir, "compose.yaml"))
				for _, s := range secretVariables {
					if strings.Contains(string(composeText), s) {
						t.Errorf("compose.yaml names %s: secrets come from the secrets/*.env files only", s)
					}
				}
				if !slices.Contains(project.ServiceNames(), n.role) {
					t.Errorf("no service named like the role %s: %v", n.role, project.ServiceNames())
				}
				for name, svc := range project.Services {
					checkService(t, n, name, svc, reference, lbIdle)
				}
			})
		}
	}
}

// checkService holds a rendered service to what docker-compose.yml does for
// the same service, and a project binary to its configuration loader.
// lbIdle is each role's load balancer's idle timeout (balancerIdleTimeouts).
func checkService(t *testing.T, n *node, name string, svc types.ServiceConfig, reference *types.Project, lbIdle map[string]time.Duration) {
	t.Helper()
	oneShot := svc.Restart == "no"
	if !oneShot && svc.Restart != "unless-stopped" {
		t.Errorf("%s: restart %q, want unless-stopped", name, svc.Restart)
	}
	if ref, ok := reference.Services[name]; ok {
		if ref.Image != svc.Image && ref.Build == nil {
			t.Errorf("%s: image %s, docker-compose.yml runs %s", name, svc.Image, ref.Image)
		}
		if ref.ReadOnly != svc.ReadOnly || !slices.Equal(ref.CapDrop, svc.CapDrop) || !slices.Equal(ref.SecurityOpt, svc.SecurityOpt) {
			t.Errorf("%s: read_only/cap_drop/security_opt differ from docker-compose.yml's", name)
		}
		if (ref.HealthCheck == nil) != (svc.HealthCheck == nil) || (ref.HealthCheck != nil && !slices.Equal(ref.HealthCheck.Test, svc.HealthCheck.Test)) {
			t.Errorf("%s: health check %v, docker-compose.yml's is %v", name, svc.HealthCheck, ref.HealthCheck)
		}
		if ref.StopGracePeriod != nil && (svc.StopGracePeriod == nil || *svc.StopGracePeriod < *ref.StopGracePeriod) {
			t.Errorf("%s: stop_grace_period %v, shorter than docker-compose.yml's %v", name, svc.StopGracePeriod, ref.StopGracePeriod)
		}
	} else if name != "oauth2-proxy" {
		t.Errorf("%s: not a service of docker-compose.yml (the Droplets run the same services)", name)
	}
	for dep, d := range svc.DependsOn {
		if d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
		}
	}
	gs, isGo := serviceenv.Services[name]
	if !isGo {
		return
	}
	if want := testRegistry + "/" + name + ":" + testVersion; svc.Image != want {
		t.Errorf("%s: image %s, want the registry's %s", name, svc.Image, want)
	}
	env := envMap(svc)
	for _, err := range serviceenv.Check(name, env, pendingVariables...) {
		t.Error(err)
	}
	reads := gs.Variables(configLookup(env))
	for _, p := range pendingVariables {
		if slices.Contains(reads, p) {
			t.Errorf("%s now reads %s: remove it from pendingVariables", name, p)
		}
	}
	cfg, err := gs.Load(configLookup(env))
	if err != nil {
		return // reported by Check
	}
	// A balancer that keeps an idle backend connection longer than the
	// service may send a request on one the service is closing (a 502).
	if idle, ok := lbIdle[name]; ok && cfg.IdleTimeout <= idle {
		t.Errorf("%s: idle timeout %s, not above its load balancer's http_idle_timeout_seconds (%s)", name, cfg.IdleTimeout, idle)
	}
	if gs.Server {
		if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= cfg.Shutdown {
			t.Errorf("%s: stop_grace_period %v, want longer than its shutdown timeout %s", name, svc.StopGracePeriod, cfg.Shutdown)
		}
		listen := ports(cfg.Listen)
		for _, p := range svc.Ports {
			if !slices.Contains(listen, fmt.Sprint(p.Target)) || p.Published != fmt.Sprint(p.Target) {
				t.Errorf("%s: publishes %s:%d, but listens on %v", name, p.Published, p.Target, listen)
			}
		}
	}
	// Every service that talks to NATS is given the nodes: a variable left
	// at its default loads fine (Check passes it) and then reaches nothing
	// on a Droplet. The ones that open the suppression bucket open it with
	// its replicas, or would update an R3 bucket down to R1.
	switch name {
	case "ingest", "enrich", "query", "deadletters":
		if got := env["NATS_URL"]; got != strings.Join(urls("nats", testNATSIPs, 4222), ",") {
			t.Errorf("%s: NATS_URL %q, want every NATS node", name, got)
		}
	}
	switch name {
	case "enrich", "query", "deadletters":
		if env["SUPPRESSION_REPLICAS"] == "" {
			t.Errorf("%s: SUPPRESSION_REPLICAS not set: it would open the suppression bucket with 1 replica", name)
		}
	}
	if name == "ingest" && env["EVENTS_STREAM_REPLICAS"] != fmt.Sprint(len(testNATSIPs)) {
		t.Errorf("ingest: EVENTS_STREAM_REPLICAS %q, want one replica on each of the %d NATS nodes", env["EVENTS_STREAM_REPLICAS"], len(testNATSIPs))
	}
}

func ports(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a[strings.LastIndex(a, ":")+1:])
	}
	return out
}

// The NATS configuration of each node is one nats-server accepts (-t), with
// the routes of the chain in nats.tf.
func TestRenderedNATSConfig(t *testing.T) {
	bin := os.Getenv("NATS_SERVER_BIN")
	if bin == "" {
		t.Fatal("NATS_SERVER_BIN: the nats-server the tests run (make test sets it)")
	}
	for _, n := range renderedNodes(t)["droplets"] {
		if n.role != "nats" {
			continue
		}
		dir := writeFiles(t, n)
		cmd := exec.Command(bin, "-t", "-c", filepath.Join(dir, "nats.conf"))
		cmd.Env = append(os.Environ(), "NATS_CLUSTER_ADVERTISE="+testPrivateIP+":6222")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: nats-server -t: %v\n%s", n.name, err, out)
		}
	}
}

// cloudConfig is the part of a cloud-config the checks read.
type cloudConfig struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Encoding    string `yaml:"encoding"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Mounts  [][]string `yaml:"mounts"`
	RunCmd  []any      `yaml:"runcmd"`
	Packges []string   `yaml:"packages"`
}

// Every Droplet's cloud-init passes cloud-init's own schema check and
// writes exactly the rendered files, secrets in files of mode 0600 only.
func TestRenderedCloudInit(t *testing.T) {
	ci, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Fatal("no cloud-init: `make test-deploy` installs Debian's cloud-init")
	}
	tmpl := filepath.Join(terraformDir(t), "templates", "cloud-init.yaml.tftpl")
	for modeName, ns := range renderedNodes(t) {
		for _, n := range ns {
			t.Run(modeName+"/"+n.name, func(t *testing.T) {
				out, err := Render(tmpl, n.cloudInitVars())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(out, "#cloud-config\n") {
					t.Error("does not start with #cloud-config")
				}
				path := filepath.Join(t.TempDir(), "user-data.yaml")
				if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
					t.Fatal(err)
				}
				res, err := exec.Command(ci, "schema", "--config-file", path).CombinedOutput()
				if err != nil || !strings.Contains(string(res), "Valid cloud-config") {
					t.Fatalf("cloud-init schema: %v\n%s\n%s", err, res, out)
				}
				var cc cloudConfig
				if err := yaml.Unmarshal([]byte(out), &cc); err != nil {
					t.Fatalf("YAML: %v", err)
				}
				written := map[string]string{}
				for _, w := range cc.WriteFiles {
					content := w.Content
					if w.Encoding == "b64" {
						b, err := base64.StdEncoding.DecodeString(w.Content)
						if err != nil {
							t.Fatalf("%s: base64: %v", w.Path, err)
						}
						content = string(b)
					}
					written[w.Path] = content
					for _, s := range secretValues {
						if strings.Contains(content, s) && w.Permissions != "0600" {
							t.Errorf("%s (mode %s) holds a secret: want mode 0600", w.Path, w.Permissions)
						}
					}
				}
				for _, s := range secretValues {
					if strings.Contains(out, s) {
						t.Errorf("a secret appears in clear in the cloud-config, outside a base64 file")
					}
				}
				for _, f := range n.files {
					if written[f.path] != f.content {
						t.Errorf("%s: not written as rendered", f.path)
					}
				}
				for _, p := range []string{"/opt/evtrack/prepare.sh", "/etc/systemd/system/evtrack.service"} {
					if _, ok := written[p]; !ok {
						t.Errorf("%s: not written", p)
					}
				}
				if (n.volume != "") != (len(cc.Mounts) == 1) || (n.volume != "" && cc.Mounts[0][0] != "/dev/disk/by-id/scsi-0DO_Volume_"+n.volume) {
					t.Errorf("mounts %v: want the volume %q mounted, and only on a node with one", cc.Mounts, n.volume)
				}
			})
		}
	}
}

func configLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// balancerIdleTimeouts reads loadbalancers.tf: each load balancer's
// http_idle_timeout_seconds by the role whose Droplets it serves.
func balancerIdleTimeouts(t *testing.T) map[string]time.Duration {
	t.Helper()
	tf, err := os.ReadFile(filepath.Join(terraformDir(t), "loadbalancers.tf"))
	if err != nil {
		t.Fatal(err)
	}
	roleRe := regexp.MustCompile(`digitalocean_tag\.role\["(\w+)"\]`)
	idleRe := regexp.MustCompile(`http_idle_timeout_seconds\s*=\s*(\d+)`)
	out := map[string]time.Duration{}
	for _, block := range strings.Split(string(tf), "resource \"digitalocean_loadbalancer\" ")[1:] {
		role, secs := roleRe.FindStringSubmatch(block), idleRe.FindStringSubmatch(block)
		if role == nil {
			t.Fatalf("loadbalancers.tf: a load balancer without a role tag:\n%.300s", block)
		}
		n := 60 // DigitalOcean's default
		if secs != nil {
			n, _ = strconv.Atoi(secs[1])
		}
		out[role[1]] = time.Duration(n) * time.Second
	}
	if len(out) == 0 {
		t.Fatal("loadbalancers.tf: no load balancer read")
	}
	return out
}
