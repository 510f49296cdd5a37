// Package enrichment holds the steps that add facts to an event's document.
// Each step has its own config and table test; NewChain registers them in
// one place and in a fixed order (the service and enrichbench build their
// chain with it). Every step is a pure function of the batch (and
// its configuration), so a redelivered message yields the same document
// (the bot list may be replaced at run time; a document is written once,
// so a redelivery after a new list changes nothing already indexed).
package enrichment

import (
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// Step adds facts to documents. ForBatch is called once per batch, so work
// shared by its events (a geo lookup of the client address, parsing the
// User-Agent) is done once; the function it returns fills one document.
type Step interface {
	ForBatch(b *telemetryv1.EventBatch) func(e *telemetryv1.Event, d *eventdoc.Source)
}

// Chain runs steps in order.
type Chain []Step

// ForBatch prepares every step for b.
func (c Chain) ForBatch(b *telemetryv1.EventBatch) func(e *telemetryv1.Event, d *eventdoc.Source) {
	fs := make([]func(*telemetryv1.Event, *eventdoc.Source), 0, len(c))
	for _, s := range c {
		if f := s.ForBatch(b); f != nil {
			fs = append(fs, f)
		}
	}
	return func(e *telemetryv1.Event, d *eventdoc.Source) {
		for _, f := range fs {
			f(e, d)
		}
	}
}
