package bulk

import (
	"encoding/json"
	"testing"

	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// TestClassify: bulk item answers as OpenSearch 2.19 writes them (taken from
// the test node, except where noted), and what each means for the document.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		item string
		want pipeline.Outcome
	}{
		{"created", `{"_index":"p-2026.11.26","_id":"1","_version":1,"result":"created","status":201}`, pipeline.Created},
		{"already there (redelivery)", `{"_index":"p-2026.11.26","_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict, document already exists (current version [1])"}}`, pipeline.Exists},

		// The document's fault: dead-lettered.
		{"strict mapping", `{"status":400,"error":{"type":"strict_dynamic_mapping_exception","reason":"mapping set to strict, dynamic introduction of [other] within [_doc] is not allowed"}}`, pipeline.Rejected},
		{"value the type cannot take", `{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long] in document with id '3'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}`, pipeline.Rejected},
		{"immense term", `{"status":400,"error":{"type":"illegal_argument_exception","reason":"Document contains at least one immense term in field=\"k\" (whose UTF8 encoding is longer than the max length 32766), all of which were skipped.","caused_by":{"type":"max_bytes_length_exceeded_exception","reason":"bytes can be at most 32766 in length; got 40000"}}}`, pipeline.Rejected},

		// The cluster's or the index's: retried, never dead-lettered.
		{"write block on the index", `{"_index":"p-2026.11.26","_id":"2","status":403,"error":{"type":"cluster_block_exception","reason":"index [p-2026.11.26] blocked by: [FORBIDDEN/8/index write (api)];"}}`, pipeline.Unavailable},
		{"disk flood stage (constructed: the block OpenSearch sets)", `{"status":429,"error":{"type":"cluster_block_exception","reason":"index [p-2026.11.26] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}}`, pipeline.Unavailable},
		{"closed index (a 400)", `{"_index":"p-2026.11.26","_id":"3","status":400,"error":{"type":"index_closed_exception","reason":"closed","index":"p-2026.11.26","index_uuid":"GD2reE05QZurkT3k_VMsWA"}}`, pipeline.Unavailable},
		{"shard limit (a 400)", `{"_index":"p-2026.11.26","_id":"1","status":400,"error":{"type":"validation_exception","reason":"Validation Failed: 1: this action would add [1001] total shards, but this cluster currently has [3]/[1000] maximum shards open;"}}`, pipeline.Unavailable},
		{"index not found", `{"_index":"p-2026.11.26","_id":"1","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [p-2026.11.26] and [require_alias] request flag is [true] and [p-2026.11.26] is not an alias","index":"p-2026.11.26","index_uuid":"_na_"}}`, pipeline.Unavailable},
		{"primary not active", `{"_index":"p-2026.11.26","_id":"1","status":503,"error":{"type":"unavailable_shards_exception","reason":"[p-2026.11.26][0] primary shard is not active Timeout: [1s]"}}`, pipeline.Unavailable},
		{"indexing pressure (opensearch-project issue)", `{"status":429,"error":{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=95396333, replica_bytes=0, all_bytes=95396333, coordinating_operation_bytes=22949230, max_coordinating_and_primary_bytes=107374182]"}}`, pipeline.Unavailable},
		{"index's default pipeline missing", `{"_index":"p-2026.11.26","_id":"1","status":400,"error":{"type":"illegal_argument_exception","reason":"pipeline with id [nope] does not exist"}}`, pipeline.Unavailable},
		{"unknown 5xx (constructed)", `{"status":500,"error":{"type":"some_internal_exception","reason":"x"}}`, pipeline.Unavailable},
		{"unknown 403 (constructed)", `{"status":403,"error":{"type":"some_permission_exception","reason":"x"}}`, pipeline.Unavailable},

		// Neither: the message spends deliveries, then its documents are dead-lettered.
		{"unknown 400 (constructed)", `{"status":400,"error":{"type":"some_new_exception","reason":"x"}}`, pipeline.Failed},
		{"other validation failure (constructed)", `{"status":400,"error":{"type":"validation_exception","reason":"Validation Failed: 1: something else;"}}`, pipeline.Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var item struct { // one item of a _bulk answer, as opensearchx.Bulk reads it
				Status int `json:"status"`
				Error  *struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(tt.item), &item); err != nil {
				t.Fatal(err)
			}
			var typ, reason string
			if item.Error != nil {
				typ, reason = item.Error.Type, item.Error.Reason
			}
			if got := Classify(item.Status, typ, reason); got != tt.want {
				t.Fatalf("%s, want %s", got, tt.want)
			}
		})
	}
}
