package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
)

// TestLoadConfig: defaults, and one row per validation rule.
// testKey is a pseudonymisation key for tests (hex of 32 bytes).
const testKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			p := c.Pipeline
			if p.FetchMaxBytes != 16<<20 || p.MaxDeliver != 20 || p.RetryDelay != 5*time.Second ||
				p.MaxRetryDelay != 5*time.Minute || p.AckWait != c.AckWait {
				t.Errorf("pipeline %+v", p)
			}
		}},
		{name: "fetch bound too small", env: map[string]string{"ENRICH_FETCH_MAX_BYTES": "1000"}, wantErr: "ENRICH_FETCH_MAX_BYTES"},
		{name: "max deliver 1", env: map[string]string{"ENRICH_MAX_DELIVER": "1"}, wantErr: "ENRICH_MAX_DELIVER"},
		{name: "max retry delay below retry delay", env: map[string]string{"ENRICH_RETRY_DELAY": "10s", "ENRICH_MAX_RETRY_DELAY": "5s"},
			wantErr: "ENRICH_MAX_RETRY_DELAY"},
		{name: "ack wait within bulk timeout", env: map[string]string{"ENRICH_ACK_WAIT": "30s"}, wantErr: "ENRICH_ACK_WAIT"},
		{name: "bad prefix", env: map[string]string{"EVENTS_INDEX_PREFIX": "Upper"}, wantErr: "EVENTS_INDEX_PREFIX"},
		{name: "negative index replicas", env: map[string]string{"OPENSEARCH_INDEX_REPLICAS": "-1"}, wantErr: "OPENSEARCH_INDEX_REPLICAS"},
		{name: "index replicas on a cluster", env: map[string]string{"OPENSEARCH_INDEX_REPLICAS": "1"}, check: func(t *testing.T, c Config) {
			if c.IndexReplicas != 1 {
				t.Errorf("index replicas %d", c.IndexReplicas)
			}
		}},
		{name: "retention below a day", env: map[string]string{"ENRICH_RETENTION": "1h"}, wantErr: "ENRICH_RETENTION"},
		{name: "clock max age bounded without retention", env: map[string]string{"ENRICH_RETENTION": "0"}, check: func(t *testing.T, c Config) {
			if c.ClockSkew.MaxAge != 30*24*time.Hour {
				t.Errorf("max age %s with retention 0, want 720h: events may not create indices for any past day", c.ClockSkew.MaxAge)
			}
		}},
		{name: "clock max age follows a shorter retention", env: map[string]string{"ENRICH_RETENTION": "168h"}, check: func(t *testing.T, c Config) {
			if c.ClockSkew.MaxAge != 7*24*time.Hour {
				t.Errorf("max age %s, want the retention", c.ClockSkew.MaxAge)
			}
		}},
		{name: "clock max age set", env: map[string]string{"ENRICH_RETENTION": "0", "ENRICH_CLOCK_MAX_AGE": "48h"}, check: func(t *testing.T, c Config) {
			if c.ClockSkew.MaxAge != 48*time.Hour {
				t.Errorf("max age %s", c.ClockSkew.MaxAge)
			}
		}},
		{name: "clock max age beyond retention", env: map[string]string{"ENRICH_RETENTION": "168h", "ENRICH_CLOCK_MAX_AGE": "720h"},
			wantErr: "ENRICH_CLOCK_MAX_AGE"},
		{name: "dead-letter retention default", check: func(t *testing.T, c Config) {
			if c.DeadLetterRetention != 30*24*time.Hour {
				t.Errorf("dead-letter retention %s", c.DeadLetterRetention)
			}
		}},
		{name: "dead-letter retention below a day", env: map[string]string{"ENRICH_DEADLETTER_RETENTION": "2h"}, wantErr: "ENRICH_DEADLETTER_RETENTION"},
		{name: "clock max age below a day", env: map[string]string{"ENRICH_CLOCK_MAX_AGE": "1h"}, wantErr: "ENRICH_CLOCK_MAX_AGE"},
		{name: "privacy defaults", check: func(t *testing.T, c Config) {
			if c.ClientIP.Mode != enrichment.IPDrop || len(c.Pseudonymise.Fields) != 0 || c.Bots.ListFile != "" || c.BotListReload != time.Minute {
				t.Errorf("client ip %+v, pseudonymise %v, bots %+v every %s", c.ClientIP, c.Pseudonymise.Fields, c.Bots, c.BotListReload)
			}
		}},
		{name: "ip truncate", env: map[string]string{"ENRICH_IP_ANONYMISATION": "truncate"}, check: func(t *testing.T, c Config) {
			if c.ClientIP.Mode != enrichment.IPTruncate {
				t.Errorf("mode %q", c.ClientIP.Mode)
			}
		}},
		{name: "ip mode unknown", env: map[string]string{"ENRICH_IP_ANONYMISATION": "mask"}, wantErr: "ENRICH_IP_ANONYMISATION"},
		{name: "pseudonymise", env: map[string]string{"ENRICH_PSEUDONYMISE_FIELDS": "user_id,anonymous_id", "ENRICH_PSEUDONYM_KEY": testKey},
			check: func(t *testing.T, c Config) {
				if len(c.Pseudonymise.Fields) != 2 || c.Pseudonymise.Key.IsZero() {
					t.Errorf("pseudonymise %+v", c.Pseudonymise)
				}
			}},
		{name: "pseudonymise without key", env: map[string]string{"ENRICH_PSEUDONYMISE_FIELDS": "user_id"}, wantErr: "ENRICH_PSEUDONYM_KEY: required"},
		{name: "pseudonym key too short", env: map[string]string{"ENRICH_PSEUDONYMISE_FIELDS": "user_id", "ENRICH_PSEUDONYM_KEY": testKey[:40]},
			wantErr: "ENRICH_PSEUDONYM_KEY: 20 bytes"},
		{name: "pseudonymise an unknown field", env: map[string]string{"ENRICH_PSEUDONYMISE_FIELDS": "event_name", "ENRICH_PSEUDONYM_KEY": testKey},
			wantErr: "ENRICH_PSEUDONYMISE_FIELDS"},
		{name: "bot list reload negative", env: map[string]string{"ENRICH_BOT_LIST_RELOAD": "-1s"}, wantErr: "ENRICH_BOT_LIST_RELOAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(config.MapLookup(tt.env))
			if err != nil && strings.Contains(err.Error(), testKey[:16]) {
				t.Errorf("error %q echoes the key", err)
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.check != nil:
				tt.check(t, c)
			}
		})
	}
}

// TestFetchBoundMustFitLargestMessage: JetStream never delivers a message
// larger than a fetch's byte bound, so start-up refuses a bound below the
// largest message the stream can hold (its max_msg_size, else the server's
// max_payload).
func TestFetchBoundMustFitLargestMessage(t *testing.T) {
	natsURL := testenv.NATSURL(t)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := njs.New(nc)
	name := strings.ToUpper(strings.ReplaceAll(testenv.Name(t, "fetchbound"), "-", "_"))
	ctx := context.Background()
	for _, sc := range []njs.StreamConfig{{Name: name + "_CAPPED", MaxMsgSize: 1 << 20}, {Name: name + "_PLAIN"}} {
		sc.Subjects = []string{strings.ToLower(sc.Name) + ".>"}
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = js.DeleteStream(context.Background(), sc.Name) })
	}
	for _, tc := range []struct {
		stream  string
		bound   int
		wantErr bool
	}{
		{name + "_CAPPED", 512 << 10, true},
		{name + "_CAPPED", 1<<20 + fetchOverhead, false},
		{name + "_PLAIN", 2 << 20, nc.MaxPayload() > 2<<20-fetchOverhead},
		{name + "_PLAIN", int(nc.MaxPayload()) + fetchOverhead, false},
	} {
		cfg := Config{Stream: tc.stream}
		cfg.Pipeline.FetchMaxBytes = tc.bound
		err := checkFetchMaxBytes(ctx, js, nc.MaxPayload(), cfg)
		if (err != nil) != tc.wantErr {
			t.Errorf("stream %s, bound %d: error %v, want error %v", tc.stream, tc.bound, err, tc.wantErr)
		}
	}
}
