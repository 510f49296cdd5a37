// Package opensearch is the enrich service's OpenSearch adapter: it applies
// the index templates and writes documents with _bulk.
package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/opensearchx"
)

// ApplyTemplates puts the events and dead-letter index templates for prefix.
// PUT replaces a stored template, so applying the same files again changes
// nothing and a changed file updates the cluster. A template only shapes
// indices created after it, so the mappings are also put on the existing
// indices of the prefix: fields added to the template (an upgrade) reach
// today's index at once instead of tomorrow's, and documents carrying them
// are not refused in between. A change OpenSearch cannot apply to an existing
// index (a changed field type) is returned as an error.
func ApplyTemplates(ctx context.Context, c *opensearch.Client, prefix string) error {
	for _, build := range []func(string) (templates.Template, error){templates.Events, templates.DeadLetter} {
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
func putMappingOnExisting(ctx context.Context, c *opensearch.Client, t templates.Template) error {
	var doc struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings json.RawMessage `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(t.Body, &doc); err != nil {
		return fmt.Errorf("parse template %s: %w", t.Name, err)
	}
	allow, ignore := true, true
	res, err := opensearchapi.IndicesPutMappingRequest{Index: doc.IndexPatterns, Body: bytes.NewReader(doc.Template.Mappings),
		AllowNoIndices: &allow, IgnoreUnavailable: &ignore}.Do(ctx, c)
	if err != nil {
		return fmt.Errorf("put mapping on %v: %w", doc.IndexPatterns, err)
	}
	return drain(res, fmt.Sprintf("put mapping of template %s on existing indices %v", t.Name, doc.IndexPatterns))
}

// drain reads and closes a response, turning an error status into an error.
func drain(res *opensearchapi.Response, what string) error {
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("%s: %s: %s", what, res.Status(), msg)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}
