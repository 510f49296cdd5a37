// Package templates applies the enrich service's index templates (the
// events and dead-letter ones of opensearch/templates) to OpenSearch, and
// puts their mappings on the indices that already exist.
package templates

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/opensearch-project/opensearch-go/v2"

	templatefiles "github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/opensearchx"
)

// Apply puts the events and dead-letter index templates for prefix.
// PUT replaces a stored template, so applying the same files again changes
// nothing and a changed file updates the cluster. A template only shapes
// indices created after it, so the mappings are also put on the existing
// indices of the prefix: fields added to the template (an upgrade) reach
// today's index at once instead of tomorrow's, and documents carrying them
// are not refused in between. A change OpenSearch cannot apply to an existing
// index (a changed field type) is returned as an error.
func Apply(ctx context.Context, c *opensearch.Client, prefix string) error {
	for _, build := range []func(string) (templatefiles.Template, error){templatefiles.Events, templatefiles.DeadLetter} {
		t, err := build(prefix)
		if err != nil {
			return err
		}
		if err := opensearchx.PutIndexTemplate(ctx, c, t.Name, t.Body); err != nil {
			return err
		}
		if err := putMappingOnExisting(ctx, c, t); err != nil {
			return err
		}
	}
	return nil
}

// putMappingOnExisting puts t's mappings on the indices its patterns match.
func putMappingOnExisting(ctx context.Context, c *opensearch.Client, t templatefiles.Template) error {
	var doc struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings json.RawMessage `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(t.Body, &doc); err != nil {
		return fmt.Errorf("parse template %s: %w", t.Name, err)
	}
	path := "/" + strings.Join(doc.IndexPatterns, ",") + "/_mapping?allow_no_indices=true&ignore_unavailable=true"
	if err := opensearchx.DoJSON(ctx, c, opensearchx.Request{Method: http.MethodPut, Path: path, Body: doc.Template.Mappings}, nil); err != nil {
		return fmt.Errorf("put mapping of template %s on existing indices %v: %w", t.Name, doc.IndexPatterns, err)
	}
	return nil
}
