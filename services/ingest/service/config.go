package service

import (
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	"github.com/evtrack/telemetry/services/ingest/internal/jetstream"
)

// Config is every setting of the ingest service; LoadConfig documents the
// variables, defaults and rules (and services/ingest/README.md lists them).
type Config struct {
	HTTPAddr        string
	WriteKeys       *auth.WriteKeys
	NATSURL         string
	Stream          jetstream.StreamConfig
	PublishTimeout  time.Duration
	MaxBodyBytes    int
	MaxEvents       int
	MaxMetadataKeys int
	RetryAfter      time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
}

// LoadConfig reads the configuration from lookup (os.LookupEnv in main).
func LoadConfig(lookup config.LookupFunc) (Config, error) {
	r := config.NewReader(lookup)
	c := Config{
		HTTPAddr: r.String("INGEST_HTTP_ADDR", ":8080"),
		NATSURL:  r.String("NATS_URL", "nats://127.0.0.1:4222"),
		Stream: jetstream.StreamConfig{
			Name:          r.String("EVENTS_STREAM", "TELEMETRY_EVENTS"),
			SubjectPrefix: r.String("EVENTS_SUBJECT_PREFIX", "telemetry.events"),
			MaxAge:        r.Duration("EVENTS_STREAM_MAX_AGE", 7*24*time.Hour),
			MaxBytes:      r.Int64("EVENTS_STREAM_MAX_BYTES", -1),
			Replicas:      r.Int("EVENTS_STREAM_REPLICAS", 1),
			Duplicates:    r.Duration("EVENTS_STREAM_DUPLICATE_WINDOW", 10*time.Minute),
		},
		PublishTimeout:  r.Duration("INGEST_PUBLISH_TIMEOUT", 2*time.Second),
		MaxBodyBytes:    r.Int("INGEST_MAX_BODY_BYTES", 1<<20),
		MaxEvents:       r.Int("INGEST_MAX_EVENTS", 1000),
		MaxMetadataKeys: r.Int("INGEST_MAX_METADATA_KEYS", 100),
		RetryAfter:      r.Duration("INGEST_RETRY_AFTER", 2*time.Second),
		ShutdownTimeout: r.Duration("INGEST_SHUTDOWN_TIMEOUT", 15*time.Second),
		LogLevel:        r.String("LOG_LEVEL", "info"),
	}
	if spec := r.String("INGEST_WRITE_KEYS", ""); spec == "" {
		r.Failf("INGEST_WRITE_KEYS: required, e.g. \"<key>:<app_id>,<key2>:<app_id2>\"")
	} else if wk, err := auth.ParseWriteKeys(spec); err != nil {
		r.Failf("INGEST_WRITE_KEYS: %v", err)
	} else {
		c.WriteKeys = wk
	}
	if c.Stream.Name == "" || c.Stream.SubjectPrefix == "" {
		r.Failf("EVENTS_STREAM and EVENTS_SUBJECT_PREFIX must not be empty")
	}
	if c.Stream.Duplicates <= 0 || c.Stream.Duplicates > c.Stream.MaxAge {
		r.Failf("EVENTS_STREAM_DUPLICATE_WINDOW: must be positive and at most EVENTS_STREAM_MAX_AGE")
	}
	if c.PublishTimeout <= 0 {
		r.Failf("INGEST_PUBLISH_TIMEOUT: must be positive")
	}
	if c.MaxBodyBytes <= 0 || c.MaxEvents <= 0 || c.MaxMetadataKeys < 0 {
		r.Failf("INGEST_MAX_BODY_BYTES and INGEST_MAX_EVENTS must be positive, INGEST_MAX_METADATA_KEYS not negative")
	}
	return c, r.Err()
}
