// Package cluster runs the pipeline in cluster mode on this machine — a
// 3-node NATS JetStream cluster (the stream with 3 replicas), a 3-node
// OpenSearch cluster (1 replica), two ingest and two enrich processes — and
// strikes it under load: the stream's leader killed, an OpenSearch node
// holding a primary killed, one of two ingest instances killed. A client
// that retries as the SDK does (503 and no answer, the same event ids, its
// Retry-After) sends throughout; after each fault every event answered 202
// must be in OpenSearch exactly once, counted by distinct ids. Beside the
// load: an ingest started with replicas 1 must not lower the stream's
// (the suppression buckets' count is printed: not protected yet); a deletion must survive the loss of the query
// replica running it and of the OpenSearch node holding the jobs.
package cluster

import (
	"testing"

	"github.com/evtrack/telemetry/platform/testenv"
)

// bins holds the service binaries, built once for the package.
var bins map[string]string

func TestMain(m *testing.M) {
	testenv.MainBuilding(m, &bins, "../..", "./services/ingest/cmd/ingest", "./services/enrich/cmd/enrich", "./services/query/cmd/query")
}
