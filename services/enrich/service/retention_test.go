package service

import (
	"net/http"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestRetentionCoversDeadLetters: at start (and hourly) enrich deletes the
// daily event indices and the daily dead-letter indices whose day, by their
// name, is past their own retention, though every one was created a moment
// ago; the others stay.
func TestRetentionCoversDeadLetters(t *testing.T) {
	t.Parallel()
	osURL, prefix := testenv.Indices(t, "keep")
	now := time.Now().UTC()
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	events := func(days int) string { return eventdoc.IndexName(prefix, ago(days)) }
	letters := func(days int) string { return eventdoc.DeadLetterIndex(prefix, ago(days)) }
	expired := []string{events(40), letters(10)}
	kept := []string{events(10), events(2), letters(2)}
	for _, n := range append(append([]string{}, expired...), kept...) {
		testenv.PutJSON(t, osURL, "/"+n, `{}`)
	}
	startEnrichWith(t, map[string]string{"EVENTS_INDEX_PREFIX": prefix, "ENRICH_RETENTION": "720h", "ENRICH_DEADLETTER_RETENTION": "168h"})
	testenv.Eventually(t, 20*time.Second, "the expired indices deleted", func() bool {
		for _, n := range expired {
			if testenv.GetJSON(t, osURL+"/"+n, nil) != http.StatusNotFound {
				return false
			}
		}
		return true
	})
	for _, n := range kept {
		if code := testenv.GetJSON(t, osURL+"/"+n, nil); code != http.StatusOK {
			t.Errorf("%s was deleted (%d)", n, code)
		}
	}
}
