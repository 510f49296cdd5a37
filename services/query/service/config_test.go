package service

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestLoadConfig: each rule of the configuration is a row. Errors name the
// variable and never echo a key.
func TestLoadConfig(t *testing.T) {
	t.Parallel()
	notHex := "zz" + testPageTokenKey[2:] // same length, not hex
	base := map[string]string{"QUERY_TOKENS": tokenA + ":app-a", "QUERY_PAGE_TOKEN_KEY": testPageTokenKey}
	tests := []struct {
		name    string
		vars    map[string]string // over base; "" unsets
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{"defaults", nil, "", func(t *testing.T, c Config) {
			if c.AuditRetention != 90*24*time.Hour || c.HTTPReadHeaderTimeout != 5*time.Second || c.HTTPReadTimeout != 10*time.Second ||
				c.HTTPWriteTimeout != 15*time.Second || c.HTTPIdleTimeout != time.Minute || c.GRPCConnectionTimeout != 10*time.Second ||
				c.GRPCMaxConnectionIdle != 5*time.Minute || c.GRPCKeepaliveTime != time.Minute || c.GRPCKeepaliveTimeout != 20*time.Second {
				t.Errorf("defaults %+v", c)
			}
			if len(c.PageTokenKeys.Current) != 33 || len(c.PageTokenKeys.Previous) != 0 {
				t.Errorf("page token keys: %d bytes, %d previous", len(c.PageTokenKeys.Current), len(c.PageTokenKeys.Previous))
			}
		}},
		{"negative index replicas", map[string]string{"OPENSEARCH_INDEX_REPLICAS": "-1"}, "OPENSEARCH_INDEX_REPLICAS", nil},
		{"index replicas on a cluster", map[string]string{"OPENSEARCH_INDEX_REPLICAS": "1"}, "", func(t *testing.T, c Config) {
			if c.IndexReplicas != 1 {
				t.Errorf("index replicas %d", c.IndexReplicas)
			}
		}},
		{"page token key required", map[string]string{"QUERY_PAGE_TOKEN_KEY": ""}, "QUERY_PAGE_TOKEN_KEY: required", nil},
		{"page token key too short", map[string]string{"QUERY_PAGE_TOKEN_KEY": testPageTokenKey[:62]}, "QUERY_PAGE_TOKEN_KEY: want hex of at least 32", nil},
		{"page token key not hex", map[string]string{"QUERY_PAGE_TOKEN_KEY": notHex}, "QUERY_PAGE_TOKEN_KEY: want hex", nil},
		{"previous keys", map[string]string{"QUERY_PAGE_TOKEN_KEY": rotatedKey, "QUERY_PAGE_TOKEN_PREVIOUS_KEYS": testPageTokenKey + ", " + strings.Repeat("ab", 32)}, "",
			func(t *testing.T, c Config) {
				if len(c.PageTokenKeys.Previous) != 2 {
					t.Errorf("previous keys: %d", len(c.PageTokenKeys.Previous))
				}
			}},
		{"previous key too short", map[string]string{"QUERY_PAGE_TOKEN_PREVIOUS_KEYS": "abcd"}, "QUERY_PAGE_TOKEN_PREVIOUS_KEYS: key #1", nil},
		{"previous key not hex", map[string]string{"QUERY_PAGE_TOKEN_PREVIOUS_KEYS": rotatedKey + "," + notHex}, "QUERY_PAGE_TOKEN_PREVIOUS_KEYS: key #2", nil},
		{"previous key repeats the current one", map[string]string{"QUERY_PAGE_TOKEN_PREVIOUS_KEYS": testPageTokenKey}, "listed twice", nil},
		{"read tokens required", map[string]string{"QUERY_TOKENS": ""}, "QUERY_TOKENS: required", nil},
		{"audit kept for ever", map[string]string{"QUERY_AUDIT_RETENTION": "0s"}, "", func(t *testing.T, c Config) {
			if c.AuditRetention != 0 {
				t.Errorf("retention %v", c.AuditRetention)
			}
		}},
		{"audit retention under a day", map[string]string{"QUERY_AUDIT_RETENTION": "1h"}, "QUERY_AUDIT_RETENTION", nil},
		{"negative audit retention", map[string]string{"QUERY_AUDIT_RETENTION": "-24h"}, "QUERY_AUDIT_RETENTION", nil},
		{"write timeout follows the request timeout", map[string]string{"QUERY_REQUEST_TIMEOUT": "30s"}, "", func(t *testing.T, c Config) {
			if c.HTTPWriteTimeout != 35*time.Second {
				t.Errorf("write timeout %v", c.HTTPWriteTimeout)
			}
		}},
		{"write timeout within the request timeout", map[string]string{"QUERY_HTTP_WRITE_TIMEOUT": "10s"}, "QUERY_HTTP_WRITE_TIMEOUT must exceed", nil},
		{"header timeout over the read timeout", map[string]string{"QUERY_HTTP_READ_HEADER_TIMEOUT": "20s"}, "QUERY_HTTP_READ_HEADER_TIMEOUT must not exceed", nil},
		{"zero idle timeout", map[string]string{"QUERY_HTTP_IDLE_TIMEOUT": "0s"}, "QUERY_HTTP_IDLE_TIMEOUT: must be positive", nil},
		{"negative keepalive", map[string]string{"QUERY_GRPC_KEEPALIVE_TIME": "-1s"}, "QUERY_GRPC_KEEPALIVE_TIME: must be positive", nil},
		{"zero connection timeout", map[string]string{"QUERY_GRPC_CONNECTION_TIMEOUT": "0s"}, "QUERY_GRPC_CONNECTION_TIMEOUT: must be positive", nil},
		{"zero max connection idle", map[string]string{"QUERY_GRPC_MAX_CONNECTION_IDLE": "0s"}, "QUERY_GRPC_MAX_CONNECTION_IDLE: must be positive", nil},
		{"pseudonyms", map[string]string{"QUERY_PSEUDONYMISE_FIELDS": "user_id,anonymous_id", "QUERY_PSEUDONYM_KEY": rotatedKey,
			"QUERY_PSEUDONYM_PREVIOUS_KEYS": testPageTokenKey}, "", func(t *testing.T, c Config) {
			if len(c.Pseudonyms.Fields) != 2 || c.Pseudonyms.Ring.Current.IsZero() || len(c.Pseudonyms.Ring.Previous) != 1 {
				t.Errorf("pseudonyms %+v", c.Pseudonyms)
			}
		}},
		{"suppression 30 days by default", nil, "", func(t *testing.T, c Config) {
			if c.SuppressFor != 30*24*time.Hour {
				t.Errorf("suppression %v", c.SuppressFor)
			}
		}},
		// A device keeps unsent events for 7 days (the Swift SDK's
		// maxEventAge), and ingest and enrich store them whatever their age:
		// a suppression must outlast that, with a margin.
		{"suppression of a day", map[string]string{"QUERY_SUPPRESSION_DURATION": "24h"}, "QUERY_SUPPRESSION_DURATION", nil},
		{"suppression as long as devices keep events", map[string]string{"QUERY_SUPPRESSION_DURATION": "168h"}, "QUERY_SUPPRESSION_DURATION", nil},
		{"suppression of 8 days", map[string]string{"QUERY_SUPPRESSION_DURATION": "192h"}, "", func(t *testing.T, c Config) {
			if c.SuppressFor != 8*24*time.Hour {
				t.Errorf("suppression %v", c.SuppressFor)
			}
		}},
		{"pseudonyms off by default", nil, "", func(t *testing.T, c Config) {
			if len(c.Pseudonyms.Fields) != 0 || !c.Pseudonyms.Ring.Current.IsZero() {
				t.Errorf("pseudonyms %+v", c.Pseudonyms)
			}
		}},
		{"pseudonym fields without a key", map[string]string{"QUERY_PSEUDONYMISE_FIELDS": "user_id"}, "QUERY_PSEUDONYM_KEY: required", nil},
		{"pseudonym key without fields", map[string]string{"QUERY_PSEUDONYM_KEY": rotatedKey}, "QUERY_PSEUDONYMISE_FIELDS: required", nil},
		{"pseudonym key too short", map[string]string{"QUERY_PSEUDONYMISE_FIELDS": "user_id", "QUERY_PSEUDONYM_KEY": rotatedKey[:40]}, "QUERY_PSEUDONYM_KEY: 20 bytes", nil},
		{"pseudonym previous key not hex", map[string]string{"QUERY_PSEUDONYMISE_FIELDS": "user_id", "QUERY_PSEUDONYM_KEY": rotatedKey,
			"QUERY_PSEUDONYM_PREVIOUS_KEYS": notHex}, "QUERY_PSEUDONYM_PREVIOUS_KEYS: key #1: not hex", nil},
		{"pseudonymise an unknown field", map[string]string{"QUERY_PSEUDONYMISE_FIELDS": "event_name", "QUERY_PSEUDONYM_KEY": rotatedKey},
			"QUERY_PSEUDONYMISE_FIELDS", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := maps.Clone(base)
			for k, v := range tt.vars {
				if v == "" {
					delete(vars, k)
				} else {
					vars[k] = v
				}
			}
			c, err := LoadConfig(config.MapLookup(vars))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if err != nil {
				for _, secret := range []string{testPageTokenKey, rotatedKey, notHex, tokenA} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error echoes a secret: %v", err)
					}
				}
				return
			}
			if tt.check != nil {
				tt.check(t, c)
			}
			for _, format := range []string{"%v", "%+v", "%#v"} {
				if out := fmt.Sprintf(format, c); strings.Contains(out, fmt.Sprint(c.PageTokenKeys.Current)) ||
					strings.Contains(out, string(c.PageTokenKeys.Current)) {
					t.Errorf("%s of Config shows the page token key: %s", format, out)
				}
			}
		})
	}
}

// TestSuppressionOutlastsTheSwiftSDKQueue: the shortest suppression the
// configuration accepts must outlast the oldest unsent event the project's
// own SDK still sends (clients/swift, Configuration.maxEventAge): a
// deleted person's device may deliver events of before the deletion that
// long after it, and ingest and enrich store them whatever their age. The
// test reads the SDK's default, so raising it there fails here until the
// minimum follows.
func TestSuppressionOutlastsTheSwiftSDKQueue(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(testenv.Root(t), "clients", "swift", "Sources", "Evtrack", "Configuration.swift"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`public var maxEventAge: TimeInterval = ([0-9 *]+)\n`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no maxEventAge default in the Swift SDK's Configuration.swift")
	}
	seconds := 1
	for _, f := range strings.Split(string(m[1]), "*") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("maxEventAge default %q: %v", m[1], err)
		}
		seconds *= n
	}
	sdk := time.Duration(seconds) * time.Second
	for _, d := range []time.Duration{sdk, sdk + time.Hour} {
		vars := map[string]string{"QUERY_TOKENS": tokenA + ":app-a", "QUERY_PAGE_TOKEN_KEY": testPageTokenKey, "QUERY_SUPPRESSION_DURATION": d.String()}
		if _, err := LoadConfig(config.MapLookup(vars)); err == nil {
			t.Errorf("QUERY_SUPPRESSION_DURATION=%s accepted, though the Swift SDK sends events up to %s old", d, sdk)
		}
	}
}
