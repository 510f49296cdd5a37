package docker

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/evtrack/telemetry/integration/serviceenv"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/testenv"
)

// secrets are the variables that hold credentials: docker-compose.yml takes
// them from .env (copied from .env.example), never writes them itself, and
// no image contains them.
var secrets = []string{"INGEST_WRITE_KEYS", "QUERY_TOKENS", "QUERY_PAGE_TOKEN_KEY"}

// loadCompose loads docker-compose.yml as `docker compose` would with .env
// copied from .env.example — the official schema, interpolation and the
// consistency checks (unknown keys, undefined services and volumes, bad
// depends_on conditions and ports fail) — with every profile enabled and
// nothing taken from this process's environment.
func loadCompose(t *testing.T, root string, interpolate bool) *types.Project {
	t.Helper()
	project, err := serviceenv.LoadCompose(context.Background(), root, "docker-compose.yml", interpolate, filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	return project
}

// environment is a compose service's environment as a LookupFunc.
func environment(svc types.ServiceConfig) config.LookupFunc {
	return func(k string) (string, bool) {
		v, ok := svc.Environment[k]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
}

func TestCompose(t *testing.T) {
	root := testenv.Root(t)
	project := loadCompose(t, root, true)
	df := readDockerfile(t, root)
	oneShot := func(s types.ServiceConfig) bool { return s.Restart == "no" }

	t.Run("every part of the system is a service", func(t *testing.T) {
		want := []string{"dashboards", "dashboards-init", "deadletters", "enrich", "ingest", "jaeger", "nats", "opensearch", "query"}
		got := project.ServiceNames()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("services %v, want %v", got, want)
		}
	})

	t.Run("health checks on every long-running service", func(t *testing.T) {
		for name, svc := range project.Services {
			hc := svc.HealthCheck
			has := hc != nil && !hc.Disable && len(hc.Test) > 1
			if oneShot(svc) && has {
				t.Errorf("%s: a one-shot command (restart: \"no\") with a health check", name)
			}
			if !oneShot(svc) && !has {
				t.Errorf("%s: no health check", name)
			}
		}
	})

	t.Run("dependencies wait for health", func(t *testing.T) {
		for name, svc := range project.Services {
			for dep, d := range svc.DependsOn {
				if d.Condition != types.ServiceConditionHealthy {
					t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
				}
				if oneShot(project.Services[dep]) {
					t.Errorf("%s depends on the one-shot %s", name, dep)
				}
			}
		}
	})

	t.Run("builds: context, Dockerfile and a target named like the service", func(t *testing.T) {
		for name, svc := range project.Services {
			if svc.Build == nil {
				continue
			}
			if svc.Build.Context != root {
				t.Errorf("%s: build context %s, want the repository root", name, svc.Build.Context)
			}
			if fi, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)); err != nil || fi.IsDir() {
				t.Errorf("%s: Dockerfile %s: %v", name, svc.Build.Dockerfile, err)
			}
			target := df.stage(svc.Build.Target)
			if svc.Build.Target != name || target == nil {
				t.Errorf("%s: build target %q: want a Dockerfile stage named %q", name, svc.Build.Target, name)
				continue
			}
			if want := "evtrack/" + name + ":dev"; svc.Image != want {
				t.Errorf("%s: image %q, want %q", name, svc.Image, want)
			}
			// The compose health check is the image's own, so a `docker run`
			// and compose agree.
			image := target.healthcheck(t)
			switch {
			case oneShot(svc) && !slices.Equal(image, []string{"NONE"}):
				t.Errorf("%s: a one-shot image wants HEALTHCHECK NONE, has %v", name, image)
			case !oneShot(svc) && (svc.HealthCheck == nil || !slices.Equal(svc.HealthCheck.Test, append([]string{"CMD"}, image...))):
				t.Errorf("%s: compose health check %v is not the image's CMD %v", name, svc.HealthCheck, image)
			}
			if gs, ok := goServices[name]; ok && gs.Server == oneShot(svc) {
				t.Errorf("%s: restart %q, but it is a server: %v", name, svc.Restart, gs.Server)
			}
			if _, ok := goServices[name]; !ok && len(svc.Environment) > 0 {
				t.Errorf("%s: sets environment variables, but nothing here knows what its binary reads", name)
			}
		}
		for name := range goServices {
			if _, ok := project.Services[name]; !ok || project.Services[name].Build == nil {
				t.Errorf("%s: not a compose service built from the Dockerfile", name)
			}
		}
	})

	t.Run("every variable set is one the service reads, and its config loads", func(t *testing.T) {
		for name, gs := range goServices {
			svc := project.Services[name]
			reads := gs.Variables(environment(svc))
			for k := range svc.Environment {
				if !slices.Contains(reads, k) {
					t.Errorf("%s: sets %s, which %s does not read (misspelt or removed?)", name, k, name)
				}
			}
			if _, err := gs.Load(environment(svc)); err != nil {
				t.Errorf("%s: its configuration does not load from the compose environment: %v", name, err)
			}
		}
	})

	t.Run("ports: the services' defaults, exposed and published", func(t *testing.T) {
		for name, gs := range goServices {
			svc := project.Services[name]
			defaults, _ := gs.Load(config.MapLookup(nil)) // the defaults, whatever else is missing
			want := ports(t, defaults.Listen)
			got, _ := gs.Load(environment(svc))
			if listen := ports(t, got.Listen); !slices.Equal(listen, want) {
				t.Errorf("%s: listens on ports %v in compose, defaults are %v", name, listen, want)
			}
			var published []string
			for _, p := range svc.Ports {
				published = append(published, fmt.Sprint(p.Target))
				if p.Published != fmt.Sprint(p.Target) {
					t.Errorf("%s: container port %d published as %s: keep the defaults' numbers on the host", name, p.Target, p.Published)
				}
			}
			slices.Sort(published)
			if !slices.Equal(published, want) {
				t.Errorf("%s: publishes %v, want its listeners %v", name, published, want)
			}
			exposed := df.stage(name).exposed()
			slices.Sort(exposed)
			if !slices.Equal(exposed, want) {
				t.Errorf("%s: the image EXPOSEs %v, want %v", name, exposed, want)
			}
		}
	})

	t.Run("stop grace periods outlast the services' drains", func(t *testing.T) {
		for name, gs := range goServices {
			svc := project.Services[name]
			if !gs.Server {
				continue
			}
			cfg, _ := gs.Load(environment(svc))
			if svc.StopGracePeriod == nil || time.Duration(*svc.StopGracePeriod) <= cfg.Shutdown {
				t.Errorf("%s: stop_grace_period %v, want longer than its shutdown timeout %s (else SIGKILL cuts the drain)", name, svc.StopGracePeriod, cfg.Shutdown)
			}
			if svc.StopSignal != "" && svc.StopSignal != "SIGTERM" {
				t.Errorf("%s: stop_signal %s; the services drain on SIGTERM", name, svc.StopSignal)
			}
		}
	})

	t.Run("every service exports traces to Jaeger", func(t *testing.T) {
		for name, gs := range goServices {
			svc := project.Services[name]
			if !slices.Contains(gs.Variables(environment(svc)), "OTEL_EXPORTER_OTLP_ENDPOINT") {
				continue // not a traced process (deadletters)
			}
			endpoint, _ := environment(svc)("OTEL_EXPORTER_OTLP_ENDPOINT")
			u, err := url.Parse(endpoint)
			if err != nil || u.Hostname() != "jaeger" || u.Port() != "4318" {
				t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT %q, want Jaeger's OTLP/HTTP port, http://jaeger:4318", name, endpoint)
			}
			if _, ok := svc.DependsOn["jaeger"]; !ok {
				t.Errorf("%s: exports to jaeger without depending on it", name)
			}
		}
	})

	t.Run("secrets come from .env only", func(t *testing.T) {
		raw := loadCompose(t, root, false)
		for name, svc := range raw.Services {
			for _, s := range secrets {
				if v, ok := svc.Environment[s]; ok && (v == nil || !strings.HasPrefix(*v, "${"+s+":?")) {
					t.Errorf("%s: %s must be ${%s:?…} (required, from .env), not written in the file", name, s, s)
				}
			}
		}
		example := readEnvFile(t, filepath.Join(root, ".env.example"))
		text, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?])?`).FindAllStringSubmatch(string(text), -1) {
			used[m[1]] = true
			if _, ok := example[m[1]]; !ok && !strings.Contains(m[2], "-") {
				t.Errorf("docker-compose.yml requires ${%s}, which .env.example does not set", m[1])
			}
		}
		for k := range example {
			if !used[k] {
				t.Errorf(".env.example sets %s, which docker-compose.yml does not use", k)
			}
		}
		dockerfileText, _ := os.ReadFile(filepath.Join(root, "Dockerfile"))
		for _, s := range secrets {
			if _, ok := example[s]; !ok {
				t.Errorf(".env.example: no %s", s)
			}
			if strings.Contains(string(dockerfileText), s) {
				t.Errorf("the Dockerfile names %s: secrets are never baked into images", s)
			}
		}
		ignore, _ := os.ReadFile(filepath.Join(root, ".dockerignore"))
		if lines := strings.Fields(string(ignore)); !slices.Contains(lines, "*") || slices.ContainsFunc(lines, func(l string) bool {
			return strings.HasPrefix(l, "!.env") || l == "!*"
		}) {
			t.Error(".dockerignore: want an allowlist (*, then !paths) that never lets .env in")
		}
	})

	t.Run("brokers and store on named volumes", func(t *testing.T) {
		for name, path := range map[string]string{"nats": "/data", "opensearch": "/usr/share/opensearch/data"} {
			svc := project.Services[name]
			if !slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool {
				_, declared := project.Volumes[v.Source]
				return v.Type == types.VolumeTypeVolume && declared && v.Target == path
			}) {
				t.Errorf("%s: %s is not on a named volume", name, path)
			}
		}
		if cmd := strings.Join(project.Services["nats"].Command, " "); cmd != "-c /etc/nats/nats.conf" {
			t.Errorf("nats: command %q: want the configuration file deploy/compose/nats.conf", cmd)
		}
		if !slices.ContainsFunc(project.Services["nats"].Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeBind && v.Source == filepath.Join(root, "deploy", "compose", "nats.conf") && v.Target == "/etc/nats/nats.conf" && v.ReadOnly
		}) {
			t.Error("nats: deploy/compose/nats.conf is not mounted read-only at /etc/nats/nats.conf")
		}
	})

	// nats-server has no flag for max_payload: at its default of 1 MB, a
	// batch ingest accepts (up to 8 MiB decoded) would be refused 413.
	t.Run("NATS stores on the volume and takes 8 MB messages", func(t *testing.T) {
		conf, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "nats.conf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"max_payload: 8MB", "jetstream {\n  store_dir: /data\n}", "http: 0.0.0.0:8222", "listen: 0.0.0.0:4222"} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("deploy/compose/nats.conf: want %q", want)
			}
		}
		bin := os.Getenv("NATS_SERVER_BIN")
		if bin == "" {
			t.Fatal("NATS_SERVER_BIN: the nats-server the tests run (make test sets it)")
		}
		if out, err := exec.Command(bin, "-t", "-c", filepath.Join(root, "deploy", "compose", "nats.conf")).CombinedOutput(); err != nil {
			t.Errorf("nats-server -t: %v\n%s", err, out)
		}
	})

	t.Run("NATS and OpenSearch are the versions the tests run", func(t *testing.T) {
		versions := readEnvFile(t, filepath.Join(root, "scripts", "versions.env"))
		for name, want := range map[string]string{
			"nats":       "nats:" + strings.TrimPrefix(versions["NATS_SERVER_VERSION"], "v") + "-alpine",
			"opensearch": "opensearchproject/opensearch:" + versions["OPENSEARCH_VERSION"],
			"dashboards": "opensearchproject/opensearch-dashboards:" + versions["OPENSEARCH_VERSION"],
		} {
			if got := project.Services[name].Image; got != want {
				t.Errorf("%s: image %s, want %s (scripts/versions.env)", name, got, want)
			}
		}
	})

	t.Run("dashboards-init passes flags the import command defines", func(t *testing.T) {
		dir := filepath.Join(root, "tools", "cmd", "dashboards")
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("tools/cmd/dashboards is not here yet (issue 15): %v", err)
		}
		cmd := exec.Command("go", "run", "./tools/cmd/dashboards", "-h")
		cmd.Dir = root
		out, _ := cmd.CombinedOutput()
		for _, arg := range project.Services["dashboards-init"].Command {
			flag, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if strings.HasPrefix(arg, "-") && !regexp.MustCompile(`(?m)^\s+-`+regexp.QuoteMeta(flag)+`\b`).Match(out) {
				t.Errorf("dashboards-init: flag %s is not one of tools/cmd/dashboards':\n%s", arg, out)
			}
		}
	})
}
