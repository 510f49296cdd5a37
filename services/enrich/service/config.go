package service

import (
	"strings"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// Config is every setting of the enrich service (documented in
// services/enrich/README.md).
type Config struct {
	HTTPAddr           string
	NATSURL            string
	Stream             string
	SubjectPrefix      string
	Consumer           string
	AckWait            time.Duration
	MaxAckPending      int
	OpenSearchURL      string
	OpenSearchUser     string
	OpenSearchPassword string
	// IndexReplicas is number_of_replicas in the index templates enrich
	// puts (events, dead letters).
	IndexReplicas int
	Pipeline      pipeline.Config
	ClockSkew     enrichment.ClockSkewConfig
	GeoIPDB       string
	// MetadataFullText: write metadata's values as full text too
	// (metadata_text), so that q finds words inside them.
	MetadataFullText bool
	// Privacy: the client address, pseudonymised identifiers, the bot list.
	ClientIP            enrichment.ClientIPConfig
	Pseudonymise        enrichment.PseudonymiseConfig
	Bots                enrichment.BotConfig
	BotListReload       time.Duration
	Retention           time.Duration
	DeadLetterRetention time.Duration
	CompactAfter        time.Duration
	ShutdownTimeout     time.Duration
	LogLevel            string
	// SuppressionBucket is the NATS key-value bucket of the people whose
	// events are dropped (written by the query service's deletions).
	SuppressionBucket   string
	SuppressionReplicas int
	// SuppressionLease: how long a published status holds; see
	// platform/suppression.
	SuppressionLease time.Duration
}

// defaultClockMaxAge is the oldest an event's time may be, by default,
// before it is placed at its arrival instead (or the retention, if shorter).
const defaultClockMaxAge = 30 * 24 * time.Hour

// minFetchMaxBytes is the smallest fetch bound accepted: below it even a
// modest batch would be fetched one message at a time.
const minFetchMaxBytes = 64 << 10

// Level and ReadyzAddr are what runner.Main reads of the configuration.
func (c Config) Level() string      { return c.LogLevel }
func (c Config) ReadyzAddr() string { return c.HTTPAddr }

// LoadConfig reads the configuration from lookup (os.LookupEnv in main).
func LoadConfig(lookup config.LookupFunc) (Config, error) {
	r := config.NewReader(lookup)
	c := Config{
		HTTPAddr:           r.String("ENRICH_HTTP_ADDR", ":8081"),
		NATSURL:            r.String("NATS_URL", "nats://127.0.0.1:4222"),
		Stream:             r.String("EVENTS_STREAM", "TELEMETRY_EVENTS"),
		SubjectPrefix:      r.String("EVENTS_SUBJECT_PREFIX", "telemetry.events"),
		Consumer:           r.String("ENRICH_CONSUMER", "enrich"),
		AckWait:            r.Duration("ENRICH_ACK_WAIT", 2*time.Minute),
		MaxAckPending:      r.Int("ENRICH_MAX_ACK_PENDING", 2000),
		OpenSearchURL:      r.String("OPENSEARCH_URL", "http://127.0.0.1:9200"),
		OpenSearchUser:     r.String("OPENSEARCH_USERNAME", ""),
		OpenSearchPassword: r.String("OPENSEARCH_PASSWORD", ""),
		IndexReplicas:      r.Int("OPENSEARCH_INDEX_REPLICAS", 0),
		Pipeline: pipeline.Config{
			IndexPrefix:   r.String("EVENTS_INDEX_PREFIX", templates.DefaultEventsPrefix),
			Workers:       r.Int("ENRICH_WORKERS", 3),
			FetchBatch:    r.Int("ENRICH_FETCH_BATCH", 50),
			FetchMaxBytes: r.Int("ENRICH_FETCH_MAX_BYTES", 16<<20),
			FlushInterval: r.Duration("ENRICH_FLUSH_INTERVAL", 250*time.Millisecond),
			BulkMaxDocs:   r.Int("ENRICH_BULK_MAX_DOCS", 5000),
			BulkMaxBytes:  r.Int("ENRICH_BULK_MAX_BYTES", 8<<20),
			BulkTimeout:   r.Duration("ENRICH_BULK_TIMEOUT", 30*time.Second),
			RetryDelay:    r.Duration("ENRICH_RETRY_DELAY", 5*time.Second),
			MaxRetryDelay: r.Duration("ENRICH_MAX_RETRY_DELAY", 5*time.Minute),
			MaxDeliver:    r.Int("ENRICH_MAX_DELIVER", 20),
			MaxBackoff:    r.Duration("ENRICH_MAX_BACKOFF", 10*time.Second),
		},
		ClockSkew: enrichment.ClockSkewConfig{
			MaxSkew:   r.Duration("ENRICH_CLOCK_MAX_SKEW", time.Minute),
			MaxFuture: r.Duration("ENRICH_CLOCK_MAX_FUTURE", 10*time.Minute),
		},
		GeoIPDB:             r.String("GEOIP_DB", ""),
		MetadataFullText:    r.Bool("ENRICH_METADATA_FULL_TEXT", true),
		Retention:           r.Duration("ENRICH_RETENTION", 30*24*time.Hour),
		DeadLetterRetention: r.Duration("ENRICH_DEADLETTER_RETENTION", 30*24*time.Hour),
		CompactAfter:        r.Duration("ENRICH_COMPACT_AFTER", time.Hour),
		ShutdownTimeout:     r.Duration("ENRICH_SHUTDOWN_TIMEOUT", 30*time.Second),
		LogLevel:            r.String("LOG_LEVEL", "info"),
		SuppressionBucket:   r.String("SUPPRESSION_BUCKET", suppression.DefaultBucket),
		SuppressionReplicas: r.Int("SUPPRESSION_REPLICAS", 1),
	}
	if err := templates.ValidatePrefix(c.Pipeline.IndexPrefix); err != nil {
		r.Failf("EVENTS_INDEX_PREFIX: %v", err)
	}
	loadPrivacy(r, &c)
	if c.IndexReplicas < 0 {
		r.Failf("OPENSEARCH_INDEX_REPLICAS: 0 (one node) or more (a cluster: 1 keeps every index through the loss of a node)")
	}
	p := c.Pipeline
	if p.FetchBatch <= 0 || p.BulkMaxDocs <= 0 || p.BulkMaxBytes <= 0 || c.MaxAckPending < p.FetchBatch*p.Workers {
		r.Failf("ENRICH_FETCH_BATCH, ENRICH_BULK_MAX_DOCS, ENRICH_BULK_MAX_BYTES must be positive and ENRICH_MAX_ACK_PENDING at least ENRICH_FETCH_BATCH × ENRICH_WORKERS")
	}
	if p.FetchMaxBytes < minFetchMaxBytes {
		r.Failf("ENRICH_FETCH_MAX_BYTES: at least %d (and at least the largest message the stream can hold, checked at start-up)", minFetchMaxBytes)
	}
	if p.MaxDeliver < 2 {
		r.Failf("ENRICH_MAX_DELIVER: at least 2 (a message failing for a reason of its own is dead-lettered at that delivery)")
	}
	if p.RetryDelay > p.MaxRetryDelay {
		r.Failf("ENRICH_MAX_RETRY_DELAY (%s) must be at least ENRICH_RETRY_DELAY (%s)", p.MaxRetryDelay, p.RetryDelay)
	}
	c.Pipeline.AckWait = c.AckWait
	if c.AckWait <= p.BulkTimeout {
		r.Failf("ENRICH_ACK_WAIT (%s) must be longer than ENRICH_BULK_TIMEOUT (%s), or messages are redelivered while still being indexed", c.AckWait, p.BulkTimeout)
	}
	if c.Retention < 0 || (c.Retention > 0 && c.Retention < 24*time.Hour) {
		r.Failf("ENRICH_RETENTION: 0 (keep for ever) or at least 24h")
	}
	if c.DeadLetterRetention < 0 || (c.DeadLetterRetention > 0 && c.DeadLetterRetention < 24*time.Hour) {
		r.Failf("ENRICH_DEADLETTER_RETENTION: 0 (keep for ever) or at least 24h")
	}
	// Older events are placed at their arrival time: without that, one bad
	// clock could create an index for any past day (tens of thousands of
	// them, up to the cluster's shard limit, when nothing is ever deleted;
	// under retention, indices deleted again at once). Bounded whatever the
	// retention.
	defaultMaxAge := defaultClockMaxAge
	if c.Retention > 0 {
		defaultMaxAge = min(defaultMaxAge, c.Retention)
	}
	c.ClockSkew.MaxAge = r.Duration("ENRICH_CLOCK_MAX_AGE", defaultMaxAge)
	if c.ClockSkew.MaxAge < 24*time.Hour || (c.Retention > 0 && c.ClockSkew.MaxAge > c.Retention) {
		r.Failf("ENRICH_CLOCK_MAX_AGE (%s): at least 24h, and at most ENRICH_RETENTION (%s) unless that is 0", c.ClockSkew.MaxAge, c.Retention)
	}
	if c.CompactAfter < 0 {
		r.Failf("ENRICH_COMPACT_AFTER: 0 (never merge past days' indices) or a positive duration")
	}
	if c.ClockSkew.MaxSkew <= 0 || c.ClockSkew.MaxFuture < 0 || p.Workers <= 0 {
		r.Failf("ENRICH_CLOCK_MAX_SKEW and ENRICH_WORKERS must be positive, ENRICH_CLOCK_MAX_FUTURE not negative")
	}
	// A write begun under the lease (a bulk request with its look-up and
	// dead letters, then a last delivery's dead-lettering) is bounded by two
	// bulk timeouts; the lease, asked before each request, must outlast it.
	c.SuppressionLease = r.Duration("ENRICH_SUPPRESSION_LEASE", max(90*time.Second, suppressionWriteBound(p)+30*time.Second))
	if c.SuppressionLease <= suppressionWriteBound(p)+5*time.Second {
		r.Failf("ENRICH_SUPPRESSION_LEASE (%s) must exceed 2 × ENRICH_BULK_TIMEOUT + 5s (%s)", c.SuppressionLease, suppressionWriteBound(p)+5*time.Second)
	}
	if c.SuppressionReplicas < 1 || c.SuppressionReplicas > 5 {
		r.Failf("SUPPRESSION_REPLICAS: 1 to 5")
	}
	if p.FlushInterval <= 0 || p.RetryDelay <= 0 || p.MaxBackoff <= 0 {
		r.Failf("ENRICH_FLUSH_INTERVAL, ENRICH_RETRY_DELAY and ENRICH_MAX_BACKOFF must be positive")
	}
	return c, r.Err()
}

// suppressionWriteBound is the longest a write started under a
// suppression lease may take: one bulk request (its look-up and dead
// letters included), and the dead-lettering of a last delivery after it.
func suppressionWriteBound(p pipeline.Config) time.Duration { return 2 * p.BulkTimeout }

// loadPrivacy reads what documents keep of the client address
// (ENRICH_IP_ANONYMISATION), which identifiers are pseudonymised and with
// which key (ENRICH_PSEUDONYMISE_FIELDS, ENRICH_PSEUDONYM_KEY), and the bot
// list (ENRICH_BOT_LIST_FILE, ENRICH_BOT_LIST_RELOAD). The key is never
// echoed.
func loadPrivacy(r *config.Reader, c *Config) {
	mode, err := enrichment.ParseIPMode(r.String("ENRICH_IP_ANONYMISATION", string(enrichment.IPDrop)))
	if err != nil {
		r.Failf("ENRICH_IP_ANONYMISATION: %v", err)
	}
	c.ClientIP = enrichment.ClientIPConfig{Mode: mode}

	c.Pseudonymise.Fields = r.List("ENRICH_PSEUDONYMISE_FIELDS")
	if k := r.String("ENRICH_PSEUDONYM_KEY", ""); k != "" {
		key, err := pseudonym.ParseKey(k)
		if err != nil {
			r.Failf("ENRICH_PSEUDONYM_KEY: %v", err)
		}
		c.Pseudonymise.Key = key
	}
	switch err := c.Pseudonymise.Validate(); {
	case err != nil && len(c.Pseudonymise.Fields) > 0 && c.Pseudonymise.Key.IsZero():
		r.Failf("ENRICH_PSEUDONYM_KEY: required with ENRICH_PSEUDONYMISE_FIELDS (%s): hex of at least %d random bytes, the same as QUERY_PSEUDONYM_KEY",
			strings.Join(c.Pseudonymise.Fields, ","), pseudonym.MinKeyLen)
	case err != nil:
		r.Failf("ENRICH_PSEUDONYMISE_FIELDS: %v", err)
	}

	c.Bots = enrichment.BotConfig{ListFile: r.String("ENRICH_BOT_LIST_FILE", "")}
	c.BotListReload = r.Duration("ENRICH_BOT_LIST_RELOAD", time.Minute)
	if c.BotListReload < 0 {
		r.Failf("ENRICH_BOT_LIST_RELOAD: 0 (only on SIGHUP) or a positive duration")
	}
}
