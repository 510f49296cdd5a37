package service

import (
	"encoding/hex"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
	"github.com/evtrack/telemetry/services/query/internal/opensearch"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Config is every setting of the query service (documented in
// services/query/README.md). Secrets (read tokens, page-token keys) are
// held in types that never print them.
type Config struct {
	GRPCAddr           string
	HTTPAddr           string
	MetricsAddr        string // "": /metrics on HTTPAddr
	ReadTokens         *auth.ReadTokens
	PageTokenKeys      search.KeyRing
	OpenSearchURL      string
	OpenSearchUser     string
	OpenSearchPassword string
	IndexPrefix        string
	// IndexReplicas is number_of_replicas in the audit indices' template.
	IndexReplicas   int
	RequestTimeout  time.Duration
	RateLimitPerSec float64
	RateLimitBurst  int
	CORSOrigins     []string
	ShutdownTimeout time.Duration
	LogLevel        string
	// AuditRetention is how long audit indices are kept (0: for ever).
	AuditRetention time.Duration
	// Pseudonyms: the fields enrich pseudonymises and its keys, so that a
	// search by an original id finds its events.
	Pseudonyms opensearch.Pseudonyms

	// Deletion of a person's data: the NATS broker holding the suppression
	// list, how long a deleted person's events are dropped, and how the
	// deletion jobs are paced.
	NATSURL             string
	SuppressionBucket   string
	SuppressionReplicas int
	SuppressFor         time.Duration
	// EventsStream is the stream of batches waiting for enrich: a
	// suppression entry is kept while it may hold one received before the
	// entry's end (suppression.RemovableBefore).
	EventsStream string
	Deletion     deletion.RunnerConfig

	// HTTP server timeouts (net/http.Server).
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPWriteTimeout      time.Duration
	HTTPIdleTimeout       time.Duration
	// gRPC connection limits: the handshake deadline, how long a connection
	// without calls stays open, and the server's keepalive pings.
	GRPCConnectionTimeout time.Duration
	GRPCMaxConnectionIdle time.Duration
	GRPCKeepaliveTime     time.Duration
	GRPCKeepaliveTimeout  time.Duration
}

// Level and ReadyzAddr are what runner.Main reads of the configuration.
func (c Config) Level() string      { return c.LogLevel }
func (c Config) ReadyzAddr() string { return c.HTTPAddr }

// natsDrainTimeout bounds the NATS drain at the end of a stop: the service
// only reads and writes the suppression buckets, nothing waits in it.
const natsDrainTimeout = 5 * time.Second

// StopWithin is the longest a stop takes: the servers' drain
// (QUERY_SHUTDOWN_TIMEOUT), then giving back a deletion job, flushing the
// audit trail and draining NATS, one after the other. A supervisor's grace
// period (compose's stop_grace_period) must be longer.
func (c Config) StopWithin() time.Duration {
	return c.ShutdownTimeout + deletion.ReleaseTimeout + audit.FlushTimeout + natsDrainTimeout
}

// The shortest suppression: a deleted person's device may still send events
// of before the deletion for as long as it keeps unsent events, and nothing
// on the server refuses them for their age (ingest takes any
// client_timestamp; enrich clamps one older than ENRICH_CLOCK_MAX_AGE to the
// arrival time and stores the event all the same). So the bound is the
// client's: the project's Swift SDK drops events older than its
// maxEventAge, 7 days by default (clients/swift Configuration.swift;
// TestSuppressionOutlastsTheSwiftSDKQueue reads it there). Enrich judges an
// entry's end by when ingest received the event, so no backlog between
// ingest and enrich needs to be added.
const (
	sdkMaxEventAge = 7 * 24 * time.Hour
	// suppressionMargin: a device clock corrected between an event and its
	// upload (the SDK measures age by it), an upload in flight at the cut-off.
	suppressionMargin = 24 * time.Hour
	// MinSuppression is the least QUERY_SUPPRESSION_DURATION: 8 days.
	MinSuppression = sdkMaxEventAge + suppressionMargin
)

// LoadConfig reads the configuration from lookup (os.LookupEnv in main).
// Error messages name the variable, never echo a secret's value.
func LoadConfig(lookup config.LookupFunc) (Config, error) {
	r := config.NewReader(lookup)
	c := Config{
		GRPCAddr:            r.String("QUERY_GRPC_ADDR", ":9090"),
		HTTPAddr:            r.String("QUERY_HTTP_ADDR", ":8082"),
		MetricsAddr:         r.String("QUERY_METRICS_ADDR", ""),
		OpenSearchURL:       r.String("OPENSEARCH_URL", "http://127.0.0.1:9200"),
		OpenSearchUser:      r.String("OPENSEARCH_USERNAME", ""),
		OpenSearchPassword:  r.String("OPENSEARCH_PASSWORD", ""),
		IndexPrefix:         r.String("EVENTS_INDEX_PREFIX", templates.DefaultEventsPrefix),
		IndexReplicas:       r.Int("OPENSEARCH_INDEX_REPLICAS", 0),
		RequestTimeout:      r.Duration("QUERY_REQUEST_TIMEOUT", 10*time.Second),
		RateLimitPerSec:     r.Float("QUERY_RATE_LIMIT_PER_SEC", 0),
		CORSOrigins:         r.List("QUERY_CORS_ORIGINS"),
		ShutdownTimeout:     r.Duration("QUERY_SHUTDOWN_TIMEOUT", 15*time.Second),
		LogLevel:            r.String("LOG_LEVEL", "info"),
		AuditRetention:      r.Duration("QUERY_AUDIT_RETENTION", 90*24*time.Hour),
		NATSURL:             r.String("NATS_URL", "nats://127.0.0.1:4222"),
		SuppressionBucket:   r.String("SUPPRESSION_BUCKET", suppression.DefaultBucket),
		SuppressionReplicas: r.Int("SUPPRESSION_REPLICAS", 1),
		SuppressFor:         r.Duration("QUERY_SUPPRESSION_DURATION", 30*24*time.Hour),
		EventsStream:        r.String("EVENTS_STREAM", "TELEMETRY_EVENTS"),
		Deletion: deletion.RunnerConfig{
			PageSize:     r.Int("QUERY_DELETE_PAGE_SIZE", 1000),
			PageInterval: r.Duration("QUERY_DELETE_PAGE_INTERVAL", 50*time.Millisecond),
			Lease:        r.Duration("QUERY_DELETE_LEASE", 30*time.Second),
			Poll:         r.Duration("QUERY_DELETE_POLL", time.Second),
			ClockMargin:  r.Duration("QUERY_DELETE_CLOCK_MARGIN", 5*time.Second),
		},

		HTTPReadHeaderTimeout: r.Duration("QUERY_HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		HTTPReadTimeout:       r.Duration("QUERY_HTTP_READ_TIMEOUT", 10*time.Second),
		HTTPIdleTimeout:       r.Duration("QUERY_HTTP_IDLE_TIMEOUT", time.Minute),
		GRPCConnectionTimeout: r.Duration("QUERY_GRPC_CONNECTION_TIMEOUT", 10*time.Second),
		GRPCMaxConnectionIdle: r.Duration("QUERY_GRPC_MAX_CONNECTION_IDLE", 5*time.Minute),
		GRPCKeepaliveTime:     r.Duration("QUERY_GRPC_KEEPALIVE_TIME", time.Minute),
		GRPCKeepaliveTimeout:  r.Duration("QUERY_GRPC_KEEPALIVE_TIMEOUT", 20*time.Second),
	}
	// A response may take the whole request timeout to compute.
	c.HTTPWriteTimeout = r.Duration("QUERY_HTTP_WRITE_TIMEOUT", c.RequestTimeout+5*time.Second)

	if spec := r.String("QUERY_TOKENS", ""); spec == "" {
		r.Failf("QUERY_TOKENS: required, e.g. \"<token>:<app_id>|<app_id2>,<admin token>:*\"")
	} else if rt, err := auth.ParseReadTokens(spec); err != nil {
		r.Failf("QUERY_TOKENS: %v", err)
	} else {
		c.ReadTokens = rt
	}
	c.PageTokenKeys = pageTokenKeys(r)
	c.Pseudonyms = pseudonyms(r)

	if err := templates.ValidatePrefix(c.IndexPrefix); err != nil {
		r.Failf("EVENTS_INDEX_PREFIX: %v", err)
	}
	if c.IndexReplicas < 0 {
		r.Failf("OPENSEARCH_INDEX_REPLICAS: 0 (one node) or more (a cluster: 1 keeps every index through the loss of a node)")
	}
	c.RateLimitBurst = r.Int("QUERY_RATE_LIMIT_BURST", max(1, int(2*c.RateLimitPerSec)))
	if c.RequestTimeout <= 0 {
		r.Failf("QUERY_REQUEST_TIMEOUT: must be positive")
	}
	if c.RateLimitPerSec < 0 || c.RateLimitBurst <= 0 {
		r.Failf("QUERY_RATE_LIMIT_PER_SEC must not be negative and QUERY_RATE_LIMIT_BURST must be positive")
	}
	if c.SuppressFor < MinSuppression {
		r.Failf("QUERY_SUPPRESSION_DURATION: at least %s (a device keeps unsent events for up to %s — the Swift SDK's maxEventAge — "+
			"and ingest and enrich store them whatever their age; plus a margin of %s)", MinSuppression, sdkMaxEventAge, suppressionMargin)
	}
	if c.EventsStream == "" {
		r.Failf("EVENTS_STREAM: required (the stream ingest publishes to)")
	}
	if c.SuppressionReplicas < 1 || c.SuppressionReplicas > 5 {
		r.Failf("SUPPRESSION_REPLICAS: 1 to 5")
	}
	if d := c.Deletion; d.PageSize < 1 || d.PageSize > 10000 {
		r.Failf("QUERY_DELETE_PAGE_SIZE: 1 to 10000")
	}
	if d := c.Deletion; d.PageInterval < 0 || d.Lease < 5*time.Second || d.Poll <= 0 || d.ClockMargin < 0 || d.Poll >= d.Lease {
		r.Failf("QUERY_DELETE_PAGE_INTERVAL and QUERY_DELETE_CLOCK_MARGIN must not be negative, QUERY_DELETE_POLL positive and below QUERY_DELETE_LEASE (at least 5s)")
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < 24*time.Hour) {
		r.Failf("QUERY_AUDIT_RETENTION: 0 (keep for ever) or at least 24h")
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"QUERY_HTTP_READ_HEADER_TIMEOUT", c.HTTPReadHeaderTimeout}, {"QUERY_HTTP_READ_TIMEOUT", c.HTTPReadTimeout},
		{"QUERY_HTTP_WRITE_TIMEOUT", c.HTTPWriteTimeout}, {"QUERY_HTTP_IDLE_TIMEOUT", c.HTTPIdleTimeout},
		{"QUERY_GRPC_CONNECTION_TIMEOUT", c.GRPCConnectionTimeout}, {"QUERY_GRPC_MAX_CONNECTION_IDLE", c.GRPCMaxConnectionIdle},
		{"QUERY_GRPC_KEEPALIVE_TIME", c.GRPCKeepaliveTime}, {"QUERY_GRPC_KEEPALIVE_TIMEOUT", c.GRPCKeepaliveTimeout},
	} {
		if d.value <= 0 {
			r.Failf("%s: must be positive", d.name)
		}
	}
	if c.HTTPReadHeaderTimeout > c.HTTPReadTimeout {
		r.Failf("QUERY_HTTP_READ_HEADER_TIMEOUT must not exceed QUERY_HTTP_READ_TIMEOUT")
	}
	if c.RequestTimeout > 0 && c.HTTPWriteTimeout <= c.RequestTimeout {
		r.Failf("QUERY_HTTP_WRITE_TIMEOUT must exceed QUERY_REQUEST_TIMEOUT, or slow answers are cut off")
	}
	return c, r.Err()
}

// pageTokenKeys reads QUERY_PAGE_TOKEN_KEY (required) and
// QUERY_PAGE_TOKEN_PREVIOUS_KEYS (optional, comma-separated): hex, at least
// search.MinPageTokenKeyLen bytes each.
func pageTokenKeys(r *config.Reader) search.KeyRing {
	const hint = "hex of at least %d random bytes (e.g. openssl rand -hex 32)"
	var ring search.KeyRing
	if k := r.String("QUERY_PAGE_TOKEN_KEY", ""); k == "" {
		r.Failf("QUERY_PAGE_TOKEN_KEY: required, the same on every replica: "+hint, search.MinPageTokenKeyLen)
	} else if key, ok := decodeKey(k); !ok {
		r.Failf("QUERY_PAGE_TOKEN_KEY: want "+hint, search.MinPageTokenKeyLen)
	} else {
		ring.Current = key
	}
	for i, k := range r.List("QUERY_PAGE_TOKEN_PREVIOUS_KEYS") {
		key, ok := decodeKey(k)
		if !ok {
			r.Failf("QUERY_PAGE_TOKEN_PREVIOUS_KEYS: key #%d: want "+hint, i+1, search.MinPageTokenKeyLen)
			continue
		}
		ring.Previous = append(ring.Previous, key)
	}
	if ring.Current != nil {
		if err := ring.Validate(); err != nil {
			r.Failf("QUERY_PAGE_TOKEN_KEY, QUERY_PAGE_TOKEN_PREVIOUS_KEYS: %v", err)
		}
	}
	return ring
}

// decodeKey decodes a hex key of at least the minimum length. Its error is
// a bool: hex's own error quotes the offending character of the secret.
func decodeKey(s string) ([]byte, bool) {
	key, err := hex.DecodeString(s)
	return key, err == nil && len(key) >= search.MinPageTokenKeyLen
}

// pseudonyms reads QUERY_PSEUDONYMISE_FIELDS (the same fields as enrich's
// ENRICH_PSEUDONYMISE_FIELDS), QUERY_PSEUDONYM_KEY (the same key as
// ENRICH_PSEUDONYM_KEY) and QUERY_PSEUDONYM_PREVIOUS_KEYS (keys enrich used
// before a rotation). Keys are never echoed.
func pseudonyms(r *config.Reader) opensearch.Pseudonyms {
	var p opensearch.Pseudonyms
	p.Fields = r.List("QUERY_PSEUDONYMISE_FIELDS")
	if err := pseudonym.CheckFields(p.Fields); err != nil {
		r.Failf("QUERY_PSEUDONYMISE_FIELDS: %v", err)
	}
	if k := r.String("QUERY_PSEUDONYM_KEY", ""); k != "" {
		key, err := pseudonym.ParseKey(k)
		if err != nil {
			r.Failf("QUERY_PSEUDONYM_KEY: %v", err)
		}
		p.Ring.Current = key
	}
	for i, k := range r.List("QUERY_PSEUDONYM_PREVIOUS_KEYS") {
		key, err := pseudonym.ParseKey(k)
		if err != nil {
			r.Failf("QUERY_PSEUDONYM_PREVIOUS_KEYS: key #%d: %v", i+1, err)
			continue
		}
		p.Ring.Previous = append(p.Ring.Previous, key)
	}
	if len(p.Fields) > 0 && p.Ring.Current.IsZero() {
		r.Failf("QUERY_PSEUDONYM_KEY: required with QUERY_PSEUDONYMISE_FIELDS: the same hex key as ENRICH_PSEUDONYM_KEY")
	}
	if len(p.Fields) == 0 && !p.Ring.Current.IsZero() {
		r.Failf("QUERY_PSEUDONYMISE_FIELDS: required with QUERY_PSEUDONYM_KEY: the same fields as ENRICH_PSEUDONYMISE_FIELDS")
	}
	return p
}
