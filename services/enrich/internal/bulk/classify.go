package bulk

import (
	"net/http"
	"strings"

	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// documentErrors are refusals of a document for what it contains: no retry
// can make OpenSearch take it, so it is dead-lettered.
var documentErrors = map[string]bool{
	"mapper_parsing_exception":            true, // a value the field's type cannot take
	"strict_dynamic_mapping_exception":    true, // a field the strict mapping does not have
	"document_parsing_exception":          true,
	"illegal_argument_exception":          true, // on a field: an immense term, a mapper conflict (but see clusterReasons)
	"max_bytes_length_exceeded_exception": true, // a term too long
	"json_parse_exception":                true,
	"x_content_parse_exception":           true,
	"not_x_content_exception":             true,
	"document_too_large_exception":        true,
}

// clusterErrors are refusals that say nothing about the document: the
// cluster, or the index it goes to, cannot take writes now (a block, a
// closed or missing index, no shard to write to, the shard limit, overload).
// They are retried until they pass and never dead-lettered: they would
// otherwise dead-letter every app's events at once.
var clusterErrors = map[string]bool{
	"cluster_block_exception":                  true, // index.blocks.write, read_only_allow_delete (disk watermark), cluster read-only
	"index_closed_exception":                   true, // answered with 400
	"index_not_found_exception":                true, // answered with 404 (auto-creation off, an alias required)
	"rejected_execution_exception":             true, // OpenSearch's name; 429
	"es_rejected_execution_exception":          true, // Elasticsearch's, and older OpenSearch
	"circuit_breaking_exception":               true,
	"unavailable_shards_exception":             true,
	"no_shard_available_action_exception":      true,
	"primary_missing_action_exception":         true,
	"shard_not_found_exception":                true,
	"process_cluster_event_timeout_exception":  true, // index creation or mapping update timed out
	"cluster_manager_not_discovered_exception": true,
	"master_not_discovered_exception":          true,
	"cluster_manager_throttling_exception":     true,
	"node_closed_exception":                    true,
	"node_not_connected_exception":             true,
	"connect_transport_exception":              true,
	"receive_timeout_transport_exception":      true,
	"resource_already_exists_exception":        true, // the index was created by a concurrent request: retry
	"security_exception":                       true, // permissions of the service's user
}

// Classify tells what one bulk item's answer means for its document: an
// error type known to be about the document is Rejected (dead-lettered), one
// known to be about the cluster or the index is Unavailable (retried, never
// dead-lettered), and so is any 429 or 5xx, and any 401/403/404. A 4xx of an
// unknown type is Failed: its message spends deliveries and is
// dead-lettered only after ENRICH_MAX_DELIVER of them, so a new kind of
// cluster-wide refusal cannot dead-letter everything at once.
func Classify(status int, errorType, reason string) pipeline.Outcome {
	switch {
	case status == http.StatusOK || status == http.StatusCreated:
		return pipeline.Created
	case status == http.StatusConflict:
		return pipeline.Exists
	case clusterErrors[errorType] || clusterReason(errorType, reason):
		return pipeline.Unavailable
	case documentErrors[errorType]:
		return pipeline.Rejected
	case status == http.StatusTooManyRequests || status >= 500,
		status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		return pipeline.Unavailable
	default:
		return pipeline.Failed
	}
}

// clusterReason recognises refusals whose type is generic but whose reason
// is about the index or the cluster: the shard limit refusing a new daily
// index ("this action would add [2] total shards, but this cluster currently
// has [1000]/[1000] maximum shards open") and an index whose default
// pipeline is missing.
func clusterReason(errorType, reason string) bool {
	switch errorType {
	case "validation_exception":
		return strings.Contains(reason, "shards")
	case "illegal_argument_exception":
		return strings.HasPrefix(reason, "pipeline with id [") && strings.HasSuffix(reason, "] does not exist")
	}
	return false
}
