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

// ApplyTemplates puts the events index template for prefix. PUT replaces the
// stored template, so applying the same file again changes nothing and a
// changed file updates the cluster; it takes effect for indices created later.
func ApplyTemplates(ctx context.Context, c *opensearch.Client, prefix string) error {
	name, body, err := templates.Events(prefix)
	if err != nil {
		return err
	}
	res, err := opensearchapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}.Do(ctx, c)
	if err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("put index template %s: %s: %s", name, res.Status(), msg)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}
