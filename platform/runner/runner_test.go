package runner

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
)

type testConfig struct{ addr string }

func (testConfig) Level() string        { return "info" }
func (c testConfig) ReadyzAddr() string { return c.addr }

// testSpec reads TEST_HTTP_ADDR, and TEST_EXTRA only when TEST_MODE is
// "extra" (an optional setting, as real configs have).
func testSpec() Spec[testConfig] {
	return Spec[testConfig]{
		Name: "svc", Version: "1.2.3",
		Load: func(lookup config.LookupFunc) (testConfig, error) {
			r := config.NewReader(lookup)
			c := testConfig{addr: r.String("TEST_HTTP_ADDR", ":8080")}
			if r.String("TEST_MODE", "") == "extra" {
				r.String("TEST_EXTRA", "")
			}
			if r.String("TEST_REQUIRED", "") == "" {
				r.Failf("TEST_REQUIRED: required")
			}
			return c, r.Err()
		},
	}
}

func TestVariables(t *testing.T) {
	process := []string{"DEBUG_ADDR", "GOGC", "GOMEMLIMIT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"an invalid config still names every variable read", nil,
			append([]string{"TEST_HTTP_ADDR", "TEST_MODE", "TEST_REQUIRED"}, process...)},
		{"values decide which optional variables are read", map[string]string{"TEST_MODE": "extra", "TEST_REQUIRED": "x"},
			append([]string{"TEST_EXTRA", "TEST_HTTP_ADDR", "TEST_MODE", "TEST_REQUIRED"}, process...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if got := Variables(testSpec(), config.MapLookup(tt.env)); !slices.Equal(got, want) {
				t.Errorf("Variables = %v, want %v", got, want)
			}
		})
	}
}

func TestReadyURL(t *testing.T) {
	tests := []struct{ addr, want string }{
		{":8080", "http://127.0.0.1:8080/readyz"},
		{"0.0.0.0:8081", "http://127.0.0.1:8081/readyz"},
		{"[::]:8082", "http://127.0.0.1:8082/readyz"},
		{"127.0.0.1:18080", "http://127.0.0.1:18080/readyz"},
		{"[::1]:9", "http://[::1]:9/readyz"},
		{"ingest:8080", "http://ingest:8080/readyz"},
		{"8080", ""}, // no port separator: an error
	}
	for _, tt := range tests {
		got, err := readyURL(tt.addr)
		if tt.want == "" {
			if err == nil {
				t.Errorf("readyURL(%q) = %q, want an error", tt.addr, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
}

// readyServer answers /readyz with status and returns its port.
func readyServer(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"unavailable","checks":{"nats":"down"}}`))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func TestHealthcheck(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{"ready, asked on loopback for a wildcard address", ":" + readyServer(t, http.StatusOK), ""},
		{"not ready: the report is in the error", "0.0.0.0:" + readyServer(t, http.StatusServiceUnavailable), `"nats":"down"`},
		{"nothing listening", "127.0.0.1:" + freePort(t), "connect"},
		{"unusable address", "nowhere", "listen address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// TEST_REQUIRED is missing: the probe still finds the address.
			err := Healthcheck(context.Background(), testSpec(), config.MapLookup(map[string]string{"TEST_HTTP_ADDR": tt.addr}))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Healthcheck: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Healthcheck error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("a spec without an HTTP listener", func(t *testing.T) {
		spec := testSpec()
		spec.Load = func(config.LookupFunc) (testConfig, error) { return testConfig{}, nil }
		if err := Healthcheck(context.Background(), spec, config.MapLookup(nil)); err == nil {
			t.Fatal("Healthcheck succeeded without an address")
		}
	})
}

// TestMain lets TestSubcommands run Main in a child process (Main exits).
func TestMain(m *testing.M) {
	if os.Getenv("RUNNER_TEST_MAIN") == "1" {
		os.Args = append([]string{"svc"}, strings.Fields(os.Getenv("RUNNER_TEST_ARGS"))...)
		Main(testSpec())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSubcommands(t *testing.T) {
	tests := []struct {
		name, args, addr string
		wantCode         int
		wantOut          string
	}{
		{"version prints the stamped version", "version", "", 0, "1.2.3\n"},
		{"healthcheck of a ready server", "healthcheck", "127.0.0.1:" + readyServer(t, http.StatusOK), 0, ""},
		{"healthcheck of an unready server", "healthcheck", "127.0.0.1:" + readyServer(t, http.StatusServiceUnavailable), 1, ""},
		{"healthcheck with nothing listening", "healthcheck", "127.0.0.1:" + freePort(t), 1, ""},
		{"an unknown argument", "serve", "", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "RUNNER_TEST_MAIN=1", "RUNNER_TEST_ARGS="+tt.args, "TEST_HTTP_ADDR="+tt.addr)
			out, err := cmd.Output()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || (tt.wantOut != "" && string(out) != tt.wantOut) {
				t.Errorf("svc %s: exit %d, output %q; want exit %d, output %q", tt.args, code, out, tt.wantCode, tt.wantOut)
			}
		})
	}
}

type testService struct{ addr string }

func (*testService) Run(context.Context) error { return nil }

// TestBuild: the adapted constructor hands on the service it built, and on
// an error no service at all (not a nil *testService inside the interface).
func TestBuild(t *testing.T) {
	failed := errors.New("cannot build")
	build := Build(func(_ context.Context, c testConfig, _ *slog.Logger, _ *otelx.Telemetry) (*testService, error) {
		if c.addr == "" {
			return nil, failed
		}
		return &testService{addr: c.addr}, nil
	})
	s, err := build(context.Background(), testConfig{addr: ":1"}, nil, nil)
	if ts, ok := s.(*testService); err != nil || !ok || ts.addr != ":1" {
		t.Fatalf("built %v, %v; want the service for :1", s, err)
	}
	if s, err := build(context.Background(), testConfig{}, nil, nil); s != nil || !errors.Is(err, failed) {
		t.Fatalf("built %v, %v; want no service and the error", s, err)
	}
}
