package service

import (
	"encoding/hex"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// Config is every setting of the query service (documented in
// services/query/README.md).
type Config struct {
	GRPCAddr           string
	HTTPAddr           string
	ReadTokens         *auth.ReadTokens
	PageTokenKey       []byte // nil: a random key per process
	OpenSearchURL      string
	OpenSearchUser     string
	OpenSearchPassword string
	IndexPrefix        string
	RequestTimeout     time.Duration
	RateLimitPerSec    float64
	RateLimitBurst     int
	CORSOrigins        []string
	ShutdownTimeout    time.Duration
	LogLevel           string
}

// LoadConfig reads the configuration from lookup (os.LookupEnv in main).
func LoadConfig(lookup config.LookupFunc) (Config, error) {
	r := config.NewReader(lookup)
	c := Config{
		GRPCAddr:           r.String("QUERY_GRPC_ADDR", ":9090"),
		HTTPAddr:           r.String("QUERY_HTTP_ADDR", ":8082"),
		OpenSearchURL:      r.String("OPENSEARCH_URL", "http://127.0.0.1:9200"),
		OpenSearchUser:     r.String("OPENSEARCH_USERNAME", ""),
		OpenSearchPassword: r.String("OPENSEARCH_PASSWORD", ""),
		IndexPrefix:        r.String("EVENTS_INDEX_PREFIX", templates.DefaultEventsPrefix),
		RequestTimeout:     r.Duration("QUERY_REQUEST_TIMEOUT", 10*time.Second),
		RateLimitPerSec:    r.Float("QUERY_RATE_LIMIT_PER_SEC", 0),
		CORSOrigins:        r.List("QUERY_CORS_ORIGINS"),
		ShutdownTimeout:    r.Duration("QUERY_SHUTDOWN_TIMEOUT", 15*time.Second),
		LogLevel:           r.String("LOG_LEVEL", "info"),
	}
	if spec := r.String("QUERY_TOKENS", ""); spec == "" {
		r.Failf("QUERY_TOKENS: required, e.g. \"<token>:<app_id>|<app_id2>,<admin token>:*\"")
	} else if rt, err := auth.ParseReadTokens(spec); err != nil {
		r.Failf("QUERY_TOKENS: %v", err)
	} else {
		c.ReadTokens = rt
	}
	if k := r.String("QUERY_PAGE_TOKEN_KEY", ""); k != "" {
		key, err := hex.DecodeString(k)
		if err != nil || len(key) < 32 {
			r.Failf("QUERY_PAGE_TOKEN_KEY: want at least 32 bytes as hex (64+ hex digits)")
		}
		c.PageTokenKey = key
	}
	if err := templates.ValidatePrefix(c.IndexPrefix); err != nil {
		r.Failf("EVENTS_INDEX_PREFIX: %v", err)
	}
	c.RateLimitBurst = r.Int("QUERY_RATE_LIMIT_BURST", max(1, int(2*c.RateLimitPerSec)))
	if c.RequestTimeout <= 0 {
		r.Failf("QUERY_REQUEST_TIMEOUT: must be positive")
	}
	if c.RateLimitPerSec < 0 || c.RateLimitBurst <= 0 {
		r.Failf("QUERY_RATE_LIMIT_PER_SEC must not be negative and QUERY_RATE_LIMIT_BURST must be positive")
	}
	return c, r.Err()
}
