package devrun

import "strings"

// defaults are `make run`'s development settings, each used only where the
// environment leaves the variable unset or empty; set them for anything
// real. The keys and token are the README's ("Two commands").
var defaults = [][2]string{
	{"NATS_URL", "nats://127.0.0.1:4222"},
	{"OPENSEARCH_URL", "http://127.0.0.1:9200"},
	{"INGEST_WRITE_KEYS", "dev-write-key-change-me:demo-app"},
	{"QUERY_TOKENS", "dev-read-token-change-me:*"},
	// Page-token signing key (hex, >= 32 bytes; the same on every replica).
	{"QUERY_PAGE_TOKEN_KEY", "6465762d706167652d746f6b656e2d6b65792d6368616e67652d6d652d30303030"},
	{"INGEST_HTTP_ADDR", "127.0.0.1:8080"},
	{"INGEST_GRPC_ADDR", "127.0.0.1:9091"},
	{"ENRICH_HTTP_ADDR", "127.0.0.1:8081"},
	{"QUERY_HTTP_ADDR", "127.0.0.1:8082"},
	{"QUERY_GRPC_ADDR", "127.0.0.1:9090"},
	{"LOG_LEVEL", "info"},
}

// Env is the services' environment: environ (os.Environ()) with defaults
// filled in.
func Env(environ []string) map[string]string {
	env := make(map[string]string, len(environ)+len(defaults))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, d := range defaults {
		if env[d[0]] == "" {
			env[d[0]] = d[1]
		}
	}
	return env
}
