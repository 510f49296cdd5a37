package cluster

import (
	"fmt"
	"testing"

	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
)

// replicasNotLowered: one more ingest and one more enrich instance join the
// cluster without its replica settings (EVENTS_STREAM_REPLICAS and
// SUPPRESSION_REPLICAS at their single-server default of 1, as after a
// rolling restart that lost a variable). Each creates or updates at start
// the stream (ingest) and the suppression buckets (enrich). Their replicas
// must stay 3: on one node the stream would hold every acknowledged batch
// on one disk, and while that node is down every ingest would answer 503;
// the buckets would stop every enrich lease and every deletion with it.
func replicasNotLowered(t *testing.T, c *clusters) {
	s := newStack(t, c)
	s.start()
	buckets := []string{"KV_" + s.bucket(), "KV_" + s.bucket() + suppression.StatusSuffix}
	replicas := func(names ...string) map[string]int {
		out := map[string]int{}
		for _, name := range names {
			info, err := testenv.StreamInfo(c.nats.URLs(), name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			out[name] = info.Config.Replicas
		}
		return out
	}
	before := replicas(append([]string{s.stream()}, buckets...)...)
	for _, n := range before {
		if n != 3 {
			t.Fatalf("before: %v; want 3 replicas of each", before)
		}
	}
	single := map[string]string{"EVENTS_STREAM_REPLICAS": "1", "SUPPRESSION_REPLICAS": "1"}
	s.ingest("ingest-single", single)
	s.enrich("enrich-single", single)
	after := replicas(append([]string{s.stream()}, buckets...)...)
	s.report(fmt.Sprintf("after an ingest and an enrich started with replicas 1: %v (each was 3)", after))
	for name, n := range after {
		if n != 3 {
			t.Errorf("%s: %d replicas after an instance started with 1; want its 3 kept", name, n)
		}
	}
}
