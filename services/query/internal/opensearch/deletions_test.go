package opensearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
)

// TestPersonQueryMatchesStoredIDs: a deletion matches the person's ids as
// enrich stored them — the id itself, and in a pseudonymised field its
// pseudonym under the current and every previous key — and nothing else.
func TestPersonQueryMatchesStoredIDs(t *testing.T) {
	cur, err := pseudonym.ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	prev, err := pseudonym.ParseKey(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	ring := pseudonym.Ring{Current: cur, Previous: []pseudonym.Key{prev}}
	person := deletion.Person{AppID: "app-1", UserID: "u-1", AnonymousID: "a-1"}
	tests := []struct {
		name         string
		pseudonyms   *Pseudonyms
		user, anonym []string
	}{
		{"ids stored as sent", nil, []string{"u-1"}, []string{"a-1"}},
		{"user_id pseudonymised", &Pseudonyms{Fields: []string{"user_id"}, Ring: ring},
			[]string{"u-1", cur.Of("u-1"), prev.Of("u-1")}, []string{"a-1"}},
		{"both pseudonymised", &Pseudonyms{Fields: []string{"user_id", "anonymous_id"}, Ring: ring},
			[]string{"u-1", cur.Of("u-1"), prev.Of("u-1")}, []string{"a-1", cur.Of("a-1"), prev.Of("a-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDocuments(nil, "events")
			if tt.pseudonyms != nil {
				d = d.WithPseudonyms(*tt.pseudonyms)
			}
			b, err := json.Marshal(d.personQuery(person))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(m{"bool": m{"filter": []any{m{"term": m{"app_id": "app-1"}},
				m{"bool": m{"should": []any{m{"terms": m{"user_id": tt.user}}, m{"terms": m{"anonymous_id": tt.anonym}}}, "minimum_should_match": 1}}}}})
			if string(b) != string(want) {
				t.Errorf("query\n%s\nwant\n%s", b, want)
			}
		})
	}
}

// TestJobsIndexKeepsReplicas: the deletion jobs index has the configured
// replicas (OPENSEARCH_INDEX_REPLICAS; on a cluster the jobs outlive a
// node): a new index is made with them, one made by an earlier version
// with none is raised to them, and one with more keeps its own.
func TestJobsIndexKeepsReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("needs OpenSearch")
	}
	tests := []struct {
		name     string
		existing int // -1: no index yet
		replicas int
		want     string
	}{
		{"new index", -1, 1, "1"},
		{"existing without replicas", 0, 1, "1"},
		{"existing with more", 2, 1, "2"},
		{"single node", -1, 0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, prefix := testenv.Indices(t, "jobs")
			if tt.existing >= 0 {
				testenv.PutJSON(t, url, "/"+JobsIndex(prefix), fmt.Sprintf(jobsMapping, tt.existing))
			}
			if err := NewJobs(testenv.OpenSearch(t, url), prefix, tt.replicas).EnsureIndex(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := testenv.IndexReplicas(t, url, JobsIndex(prefix)); got != tt.want {
				t.Errorf("number_of_replicas %s, want %s", got, tt.want)
			}
		})
	}
}

// TestCountEventsRefusesAPartialAnswer: with one daily index of the prefix
// red (its shard unassigned, whatever it holds unreadable), OpenSearch counts
// the person's events in the others and answers 200; the count is refused
// as unavailable rather than reported short (a job's total). Before, it was
// the green index's 1, without an error.
func TestCountEventsRefusesAPartialAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs OpenSearch")
	}
	t.Parallel()
	url, prefix := testenv.Indices(t, "delcount")
	testenv.PutJSON(t, url, "/"+prefix+"-2026.11.01/_doc/u1-1?refresh=true", `{"app_id":"app","user_id":"u1"}`)
	d := NewDocuments(testenv.OpenSearch(t, url), prefix)
	person := deletion.Person{AppID: "app", UserID: "u1"}
	if n, err := d.CountEvents(t.Context(), person); n != 1 || err != nil {
		t.Fatalf("before: %d, %v; want 1", n, err)
	}
	// The fault: another day's index whose only shard can go to no node.
	testenv.PutJSON(t, url, "/"+prefix+"-2026.11.02?wait_for_active_shards=0",
		`{"settings":{"number_of_replicas":0,"index.routing.allocation.require._name":"no-such-node"}}`)
	var raw struct {
		Count  int64
		Shards struct{ Total, Successful int } `json:"_shards"`
	}
	if err := json.Unmarshal(testenv.Do(t, url, http.MethodPost, "/"+prefix+"-*/_count", `{}`), &raw); err != nil || raw.Shards.Successful >= raw.Shards.Total {
		t.Fatalf("OpenSearch answered %+v, %v: want a shard that did not answer", raw, err)
	}
	n, err := d.CountEvents(t.Context(), person)
	if !errors.Is(err, opensearchx.ErrUnavailable) {
		t.Fatalf("with a red index: %d, %v; want an error wrapping ErrUnavailable", n, err)
	}
}
