package service

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	"github.com/evtrack/telemetry/services/ingest/internal/jetstream"
)

// Config is every setting of the ingest service; services/ingest/README.md
// lists the variables, defaults and rules.
type Config struct {
	HTTPAddr              string
	MetricsAddr           string // "": /metrics on HTTPAddr
	GRPCAddr              string
	WriteKeys             *auth.WriteKeys
	NATSURL               string
	Stream                jetstream.StreamConfig
	PublishTimeout        time.Duration
	MaxInFlightPublishes  int
	MaxBodyBytes          int
	MaxDecodedBytes       int64
	DecodeBudgetBytes     int64
	BodyKeyBudgetBytes    int64
	BodyKeyMaxDecoded     int64
	TrustContextIP        bool
	MaxEvents             int
	MaxEventBytes         int
	MaxMetadataKeys       int
	MaxConcurrentRequests int
	MaxConnections        int
	MaxConnsPerIP         int
	ReadTimeout           time.Duration
	IdleTimeout           time.Duration
	MaxHeaderBytes        int
	GRPCMaxMessageBytes   int
	TrustedProxies        []string
	RateLimitPerSec       float64
	RateLimitBurst        int
	RetryAfter            time.Duration
	ShutdownTimeout       time.Duration
	LogLevel              string
}

// Level and ReadyzAddr are what runner.Main reads of the configuration.
func (c Config) Level() string      { return c.LogLevel }
func (c Config) ReadyzAddr() string { return c.HTTPAddr }

// LoadConfig reads the configuration from lookup (os.LookupEnv in main).
func LoadConfig(lookup config.LookupFunc) (Config, error) {
	r := config.NewReader(lookup)
	c := Config{
		HTTPAddr: r.String("INGEST_HTTP_ADDR", ":8080"),
		// Beside the public port, /metrics (and health) on an address of
		// their own that the load balancer does not forward.
		MetricsAddr: r.String("INGEST_METRICS_ADDR", ""),
		GRPCAddr:    r.String("INGEST_GRPC_ADDR", ":9091"),
		NATSURL:     r.String("NATS_URL", "nats://127.0.0.1:4222"),
		Stream: jetstream.StreamConfig{
			Name:          r.String("EVENTS_STREAM", "TELEMETRY_EVENTS"),
			SubjectPrefix: r.String("EVENTS_SUBJECT_PREFIX", "telemetry.events"),
			MaxAge:        r.Duration("EVENTS_STREAM_MAX_AGE", 0),
			MaxBytes:      r.Int64("EVENTS_STREAM_MAX_BYTES", -1),
			MaxMsgs:       r.Int64("EVENTS_STREAM_MAX_MSGS", -1),
			Replicas:      r.Int("EVENTS_STREAM_REPLICAS", 1),
			Duplicates:    r.Duration("EVENTS_STREAM_DUPLICATE_WINDOW", 2*time.Minute),
		},
		PublishTimeout:        r.Duration("INGEST_PUBLISH_TIMEOUT", 2*time.Second),
		MaxInFlightPublishes:  r.Int("INGEST_MAX_INFLIGHT_PUBLISHES", 1024),
		MaxBodyBytes:          r.Int("INGEST_MAX_BODY_BYTES", 1<<20),
		MaxDecodedBytes:       r.Int64("INGEST_MAX_DECODED_BYTES", 8<<20),
		DecodeBudgetBytes:     r.Int64("INGEST_DECODE_BUDGET_BYTES", 256<<20),
		BodyKeyBudgetBytes:    r.Int64("INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES", 32<<20),
		BodyKeyMaxDecoded:     r.Int64("INGEST_SEGMENT_BODY_KEY_MAX_DECODED_BYTES", 1<<20),
		TrustContextIP:        r.Bool("INGEST_SEGMENT_TRUST_CONTEXT_IP", false),
		MaxEvents:             r.Int("INGEST_MAX_EVENTS", 1000),
		MaxEventBytes:         r.Int("INGEST_MAX_EVENT_BYTES", 32<<10),
		MaxMetadataKeys:       r.Int("INGEST_MAX_METADATA_KEYS", 100),
		MaxConcurrentRequests: r.Int("INGEST_MAX_CONCURRENT_REQUESTS", 1024),
		MaxConnections:        r.Int("INGEST_MAX_CONNECTIONS", 8192),
		MaxConnsPerIP:         r.Int("INGEST_MAX_CONNECTIONS_PER_IP", 256),
		ReadTimeout:           r.Duration("INGEST_READ_TIMEOUT", 30*time.Second),
		IdleTimeout:           r.Duration("INGEST_IDLE_TIMEOUT", 2*time.Minute),
		MaxHeaderBytes:        r.Int("INGEST_MAX_HEADER_BYTES", 8<<10),
		GRPCMaxMessageBytes:   r.Int("INGEST_GRPC_MAX_MESSAGE_BYTES", 4<<20),
		TrustedProxies:        r.List("INGEST_TRUSTED_PROXIES"),
		RateLimitPerSec:       r.Float("INGEST_RATE_LIMIT_EVENTS_PER_SEC", 0),
		RetryAfter:            r.Duration("INGEST_RETRY_AFTER", 2*time.Second),
		ShutdownTimeout:       r.Duration("INGEST_SHUTDOWN_TIMEOUT", 15*time.Second),
		LogLevel:              r.String("LOG_LEVEL", "info"),
	}
	c.RateLimitBurst = r.Int("INGEST_RATE_LIMIT_BURST", max(c.MaxEvents, int(c.RateLimitPerSec)))

	spec := r.String("INGEST_WRITE_KEYS", "")
	if path := r.String("INGEST_WRITE_KEYS_FILE", ""); path != "" {
		fromFile, err := readKeysFile(path)
		if err != nil {
			r.Failf("INGEST_WRITE_KEYS_FILE: %v", err)
		}
		spec = strings.Join([]string{spec, fromFile}, ",")
	}
	if strings.Trim(spec, ", ") == "" {
		r.Failf("INGEST_WRITE_KEYS or INGEST_WRITE_KEYS_FILE: required, e.g. \"<key>:<app_id>,<key2>:<app_id2>\"")
	} else if wk, err := auth.ParseWriteKeys(spec); err != nil {
		r.Failf("write keys: %v", err)
	} else {
		c.WriteKeys = wk
	}
	switch compression := r.String("EVENTS_STREAM_COMPRESSION", "none"); compression {
	case "s2":
		c.Stream.Compressed = true
	case "none":
	default:
		r.Failf("EVENTS_STREAM_COMPRESSION: s2 or none, not %q", compression)
	}
	if c.Stream.Name == "" || c.Stream.SubjectPrefix == "" {
		r.Failf("EVENTS_STREAM and EVENTS_SUBJECT_PREFIX must not be empty")
	}
	if c.Stream.Duplicates <= 0 || (c.Stream.MaxAge > 0 && c.Stream.Duplicates > c.Stream.MaxAge) {
		r.Failf("EVENTS_STREAM_DUPLICATE_WINDOW: must be positive and at most EVENTS_STREAM_MAX_AGE")
	}
	if c.Stream.MaxAge < 0 || c.Stream.MaxBytes == 0 || c.Stream.MaxMsgs == 0 {
		r.Failf("EVENTS_STREAM_MAX_AGE: 0 (keep every batch until indexed) or positive; EVENTS_STREAM_MAX_BYTES and EVENTS_STREAM_MAX_MSGS: positive or -1 (no limit)")
	}
	if c.PublishTimeout <= 0 || c.ReadTimeout <= 0 || c.IdleTimeout <= 0 {
		r.Failf("INGEST_PUBLISH_TIMEOUT, INGEST_READ_TIMEOUT and INGEST_IDLE_TIMEOUT must be positive")
	}
	for name, v := range map[string]int64{
		"INGEST_MAX_BODY_BYTES": int64(c.MaxBodyBytes), "INGEST_MAX_DECODED_BYTES": c.MaxDecodedBytes,
		"INGEST_DECODE_BUDGET_BYTES": c.DecodeBudgetBytes, "INGEST_MAX_EVENTS": int64(c.MaxEvents),
		"INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES": c.BodyKeyBudgetBytes, "INGEST_SEGMENT_BODY_KEY_MAX_DECODED_BYTES": c.BodyKeyMaxDecoded,
		"INGEST_MAX_EVENT_BYTES": int64(c.MaxEventBytes), "INGEST_MAX_CONCURRENT_REQUESTS": int64(c.MaxConcurrentRequests),
		"INGEST_MAX_INFLIGHT_PUBLISHES": int64(c.MaxInFlightPublishes), "INGEST_MAX_CONNECTIONS": int64(c.MaxConnections),
		"INGEST_MAX_HEADER_BYTES": int64(c.MaxHeaderBytes), "INGEST_GRPC_MAX_MESSAGE_BYTES": int64(c.GRPCMaxMessageBytes),
	} {
		if v <= 0 {
			r.Failf("%s: must be positive", name)
		}
	}
	if c.MaxDecodedBytes < int64(c.MaxBodyBytes) || c.DecodeBudgetBytes < c.MaxDecodedBytes {
		r.Failf("want INGEST_MAX_BODY_BYTES <= INGEST_MAX_DECODED_BYTES <= INGEST_DECODE_BUDGET_BYTES")
	}
	if c.BodyKeyMaxDecoded > c.MaxDecodedBytes || c.BodyKeyBudgetBytes < 4*c.BodyKeyMaxDecoded {
		r.Failf("want INGEST_SEGMENT_BODY_KEY_MAX_DECODED_BYTES (%d) <= INGEST_MAX_DECODED_BYTES (%d), and INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES (%d) at least 4 times it (a body is held as sent, inflated and decoded at once)",
			c.BodyKeyMaxDecoded, c.MaxDecodedBytes, c.BodyKeyBudgetBytes)
	}
	if int64(c.GRPCMaxMessageBytes) > c.MaxDecodedBytes {
		r.Failf("INGEST_GRPC_MAX_MESSAGE_BYTES (%d) must be at most INGEST_MAX_DECODED_BYTES (%d)", c.GRPCMaxMessageBytes, c.MaxDecodedBytes)
	}
	if c.MaxConnsPerIP < 0 {
		r.Failf("INGEST_MAX_CONNECTIONS_PER_IP: 0 (no limit, e.g. behind a proxy) or positive")
	}
	if c.MaxMetadataKeys < 0 || c.RateLimitPerSec < 0 {
		r.Failf("INGEST_MAX_METADATA_KEYS and INGEST_RATE_LIMIT_EVENTS_PER_SEC must not be negative")
	}
	if c.RateLimitPerSec > 0 && c.RateLimitBurst < c.MaxEvents {
		r.Failf("INGEST_RATE_LIMIT_BURST (%d) must be at least INGEST_MAX_EVENTS (%d), or a full batch could never be accepted", c.RateLimitBurst, c.MaxEvents)
	}
	return c, r.Err()
}

// readKeysFile reads "key:app_id" lines; blank lines and # comments are skipped.
func readKeysFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var pairs []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, ",") {
			return "", fmt.Errorf("read %s: one key:app_id per line", path)
		}
		pairs = append(pairs, line)
	}
	return strings.Join(pairs, ","), nil
}
