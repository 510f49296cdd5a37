package devrun

import (
	"os"
	"strings"
	"time"
)

// message is what `make run` prints once the services are ready; $NAME is
// a variable of the services' environment or one of Message's own.
const message = `
  ingest  POST http://$INGEST_HTTP_ADDR/v1/track   gRPC $INGEST_GRPC_ADDR   (/healthz, /readyz, /metrics)
  enrich  http://$ENRICH_HTTP_ADDR/readyz   /metrics   geo: $geo
  query   HTTP http://$QUERY_HTTP_ADDR/v1/...   gRPC $QUERY_GRPC_ADDR (reflection on)
  NATS    $NATS_URL        OpenSearch $OPENSEARCH_URL
  logs    $logs/{ingest,enrich,query}.log

Send a batch:

  curl -sS -X POST http://$INGEST_HTTP_ADDR/v1/track \
    -H 'Authorization: Bearer $write_key' -H 'Content-Type: application/json' \
    -d '[{"event_id":"demo-1","user_id":"user-1","session_id":"s-1","event_name":"app_open","client_timestamp":"$now","app_version":"1.0.0","device_os":"iOS 18.1","metadata":{"source":"push"},"message":"hello"}]'

Then read it back (searchable within about a second):

  curl -sS 'http://$QUERY_HTTP_ADDR/v1/users/user-1/events' -H 'Authorization: Bearer $read_token'

Ctrl-C stops the services (and the servers, if this command started them).
`

// Message is the URLs and curl examples for the services run with env,
// logging into logs: the first write key and read token, an event stamped
// now.
func Message(env map[string]string, logs string, now time.Time) string {
	own := map[string]string{
		"logs": logs, "now": now.UTC().Format("2006-01-02T15:04:05Z"), "geo": env["GEOIP_DB"],
		"write_key":  firstKey(env["INGEST_WRITE_KEYS"]),
		"read_token": firstKey(env["QUERY_TOKENS"]),
	}
	if own["geo"] == "" {
		own["geo"] = "off"
	}
	return os.Expand(message, func(k string) string {
		if v, ok := own[k]; ok {
			return v
		}
		return env[k]
	})
}

// firstKey is the secret of the first "secret:scope" of a list.
func firstKey(list string) string {
	k, _, _ := strings.Cut(list, ":")
	return k
}
