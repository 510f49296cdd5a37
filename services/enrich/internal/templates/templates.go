// Package templates applies the enrich service's index templates (the
// events and dead-letter ones of opensearch/templates) to OpenSearch, and
// puts their mappings on the indices that already exist.
package templates

import (
	"context"

	"github.com/opensearch-project/opensearch-go/v2"

	templatefiles "github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/opensearchx"
)

// Apply puts the events and dead-letter index templates for prefix, with
// replicas copies of each shard (OPENSEARCH_INDEX_REPLICAS).
// PUT replaces a stored template, so applying the same files again changes
// nothing and a changed file updates the cluster. A template only shapes
// indices created after it, so the mappings are also put on the existing
// indices of the prefix: fields added to the template (an upgrade) reach
// today's index at once instead of tomorrow's, and documents carrying them
// are not refused in between. A change OpenSearch cannot apply to an existing
// index (a changed field type) is returned as an error.
func Apply(ctx context.Context, c *opensearch.Client, prefix string, replicas int) error {
	for _, build := range []func(string) (templatefiles.Template, error){templatefiles.Events, templatefiles.DeadLetter} {
		t, err := templatefiles.Build(build, prefix, replicas)
		if err != nil {
			return err
		}
		if err := opensearchx.ApplyIndexTemplate(ctx, c, t.Name, t.Body); err != nil {
			return err
		}
	}
	return nil
}
