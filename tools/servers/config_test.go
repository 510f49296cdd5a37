package servers

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestHostPort(t *testing.T) {
	tests := []struct {
		url       string
		want      string
		wantError string
	}{
		{"nats://127.0.0.1:4222", "127.0.0.1:4222", ""},
		{"http://127.0.0.1:9200", "127.0.0.1:9200", ""},
		{"http://localhost:39200/", "localhost:39200", ""},
		{"nats://user:secret@127.0.0.1:34222", "127.0.0.1:34222", ""},
		{"http://[::1]:9200", "[::1]:9200", ""},
		{"nats://127.0.0.1", "", "port: \"\" is not a port"},
		{"http://127.0.0.1:99999", "", "is not a port"},
		{"localhost:4222", "", "want scheme://host:port"},
		{"127.0.0.1:4222", "", "first path segment"},
		{"nats://127.0.0.1:4222,nats://127.0.0.1:4223", "", "one URL, not a list"},
		{"http://%zz", "", "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := HostPort(tt.url)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantError)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	root := filepath.Join("..", "..")
	tests := []struct {
		name      string
		env       map[string]string
		check     func(Config) bool
		wantError string
	}{
		{"defaults", nil, func(c Config) bool {
			return c.NATSURL == "nats://127.0.0.1:4222" && c.NATSMonitorPort == 8222 && c.OpenSearchURL == "http://127.0.0.1:9200" &&
				c.OpenSearchHeap == "1g" && c.RunUser == "opensearch" && c.RunDir == filepath.Join(root, ".cache", "run") &&
				c.natsHealth() == "http://127.0.0.1:8222/healthz?js-enabled-only=true" &&
				c.openSearchHealth() == "http://127.0.0.1:9200/_cluster/health?wait_for_status=yellow&timeout=1s" &&
				c.Versions["OPENSEARCH_VERSION"] != ""
		}, ""},
		{"from the environment", map[string]string{"NATS_URL": "nats://localhost:34222", "NATS_MONITOR_PORT": "38222",
			"OPENSEARCH_URL": "http://127.0.0.1:39200/", "OPENSEARCH_HEAP": "512m", "OPENSEARCH_RUN_USER": "os2", "NATS_SERVER_BIN": "/x/nats-server"},
			func(c Config) bool {
				return c.natsAddr() == "localhost:34222" && c.natsHealth() == "http://localhost:38222/healthz?js-enabled-only=true" &&
					c.openSearchAddr() == "127.0.0.1:39200" && c.openSearchHealth() == "http://127.0.0.1:39200/_cluster/health?wait_for_status=yellow&timeout=1s" &&
					c.OpenSearchHeap == "512m" && c.RunUser == "os2" && c.NATSBin == "/x/nats-server"
			}, ""},
		{"empty means default", map[string]string{"NATS_URL": ""}, func(c Config) bool { return c.NATSURL == "nats://127.0.0.1:4222" }, ""},
		{"bad monitor port", map[string]string{"NATS_MONITOR_PORT": "http"}, nil, "NATS_MONITOR_PORT: \"http\" is not a port"},
		{"NATS_URL without a port", map[string]string{"NATS_URL": "nats://127.0.0.1"}, nil, "NATS_URL:"},
		{"OPENSEARCH_URL a list", map[string]string{"OPENSEARCH_URL": "http://a:9200,http://b:9200"}, nil, "OPENSEARCH_URL:"},
		{"bad heap", map[string]string{"OPENSEARCH_HEAP": "1 GB"}, nil, "OPENSEARCH_HEAP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, root)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantError)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("got %+v, %v", c, err)
			}
		})
	}
	if _, err := Load(func(string) (string, bool) { return "", false }, t.TempDir()); err == nil || !strings.Contains(err.Error(), "versions") {
		t.Fatalf("a root without scripts/versions.env: %v", err)
	}
}

func TestSelect(t *testing.T) {
	if got, err := Select(nil); err != nil || strings.Join(got, ",") != "nats,opensearch" {
		t.Fatalf("none: %v, %v; want both", got, err)
	}
	if got, err := Select([]string{"opensearch"}); err != nil || strings.Join(got, ",") != "opensearch" {
		t.Fatalf("one: %v, %v", got, err)
	}
	if _, err := Select([]string{"nats", "redis"}); err == nil || !strings.Contains(err.Error(), `no server "redis"`) {
		t.Fatalf("unknown: %v", err)
	}
}
