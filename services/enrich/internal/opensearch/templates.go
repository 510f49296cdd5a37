// Package opensearch is the enrich service's OpenSearch adapter: it applies
// the index templates and writes documents with _bulk.
package opensearch

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/evtrack/telemetry/opensearch/templates"
)

// ApplyTemplates puts the events and dead-letter index templates for prefix.
// PUT replaces a stored template, so applying the same files again changes
// nothing and a changed file updates the cluster (for indices created later).
func ApplyTemplates(ctx context.Context, c *opensearch.Client, prefix string) error {
	for _, build := range []func(string) (templates.Template, error){templates.Events, templates.DeadLetter} {
		t, err := build(prefix)
		if err != nil {
			return err
		}
		res, err := opensearchapi.IndicesPutIndexTemplateRequest{Name: t.Name, Body: bytes.NewReader(t.Body)}.Do(ctx, c)
		if err != nil {
			return fmt.Errorf("put index template %s: %w", t.Name, err)
		}
		if err := drain(res, "put index template "+t.Name); err != nil {
			return err
		}
	}
	return nil
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
