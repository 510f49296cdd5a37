package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/platform/config"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte("# rotated monthly\nfile-key-0123456789abc:app-android\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{"defaults", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:app-ios"}, "", func(t *testing.T, c Config) {
			if c.MaxBodyBytes != 1<<20 || c.MaxDecodedBytes != 8<<20 || c.MaxEvents != 1000 || c.MaxEventBytes != 32<<10 ||
				c.MaxMetadataKeys != 100 || c.RateLimitPerSec != 0 || c.Stream.Duplicates.Minutes() != 2 || c.Stream.Compressed ||
				c.BodyKeyMaxDecoded != 1<<20 || c.BodyKeyBudgetBytes != 32<<20 || c.TrustContextIP {
				t.Errorf("defaults %+v", c)
			}
		}},
		{"keys from env and file", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:app-ios", "INGEST_WRITE_KEYS_FILE": keysFile}, "", func(t *testing.T, c Config) {
			if app, ok := c.WriteKeys.AppID("file-key-0123456789abc"); !ok || app != "app-android" {
				t.Errorf("file key: %q %v", app, ok)
			}
			if c.WriteKeys.Len() != 2 {
				t.Errorf("%d keys", c.WriteKeys.Len())
			}
		}},
		{"keys from file only", map[string]string{"INGEST_WRITE_KEYS_FILE": keysFile}, "", nil},
		{"no keys", nil, "INGEST_WRITE_KEYS or INGEST_WRITE_KEYS_FILE", nil},
		{"missing keys file", map[string]string{"INGEST_WRITE_KEYS_FILE": filepath.Join(dir, "nope")}, "INGEST_WRITE_KEYS_FILE", nil},
		{"short key", map[string]string{"INGEST_WRITE_KEYS": "short:app"}, "at least 16", nil},
		{"decoded below wire limit", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "INGEST_MAX_DECODED_BYTES": "1000"}, "INGEST_MAX_DECODED_BYTES", nil},
		{"burst below a batch", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "INGEST_RATE_LIMIT_EVENTS_PER_SEC": "10", "INGEST_RATE_LIMIT_BURST": "10"}, "INGEST_RATE_LIMIT_BURST", nil},
		{"body-key budget below four bodies", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES": "2097152"}, "INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES", nil},
		{"body-key bodies over the decoded limit", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "INGEST_SEGMENT_BODY_KEY_MAX_DECODED_BYTES": "16777216", "INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES": "134217728"}, "INGEST_SEGMENT_BODY_KEY_MAX_DECODED_BYTES", nil},
		{"context.ip trusted", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "INGEST_SEGMENT_TRUST_CONTEXT_IP": "true"}, "", func(t *testing.T, c Config) {
			if !c.TrustContextIP {
				t.Error("INGEST_SEGMENT_TRUST_CONTEXT_IP not read")
			}
		}},
		{"compressed stream", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "EVENTS_STREAM_COMPRESSION": "s2"}, "", func(t *testing.T, c Config) {
			if !c.Stream.Compressed {
				t.Error("EVENTS_STREAM_COMPRESSION=s2 gave an uncompressed stream")
			}
		}},
		{"unknown compression", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "EVENTS_STREAM_COMPRESSION": "gzip"}, "EVENTS_STREAM_COMPRESSION", nil},
		{"bad duration", map[string]string{"INGEST_WRITE_KEYS": "env-key-0123456789abc:a", "INGEST_PUBLISH_TIMEOUT": "soon"}, "INGEST_PUBLISH_TIMEOUT", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(config.MapLookup(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
