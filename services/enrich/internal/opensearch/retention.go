package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// Retention is how long each kind of daily index of a prefix is kept,
// counted from the end of the day in its name (0: for ever).
type Retention struct {
	Events      time.Duration // prefix-YYYY.MM.DD
	DeadLetters time.Duration // deadletter-prefix-YYYY.MM.DD
}

// deleteBatch bounds the index names of one DELETE (they go in the URL,
// which OpenSearch caps at 4 KiB).
const deleteBatch = 50

// DeleteExpired deletes prefix's daily event and dead-letter indices whose
// day, read from the index name, ended more than their retention before
// now, and returns their names. The name is the authority, not the index's
// creation date: a past day's index created late (a late event, a dead
// letter replayed) goes when its day is due. Deleting is idempotent, so
// several enrich instances may run it.
func DeleteExpired(ctx context.Context, c *opensearch.Client, prefix string, r Retention, now time.Time) ([]string, error) {
	var deleted []string
	for _, kind := range []struct {
		names     string
		retention time.Duration
	}{{prefix, r.Events}, {eventdoc.DeadLetterPrefix(prefix), r.DeadLetters}} {
		if kind.retention <= 0 {
			continue
		}
		d, err := deleteExpired(ctx, c, kind.names, kind.retention, now)
		deleted = append(deleted, d...)
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// deleteExpired deletes the indices names-YYYY.MM.DD whose day ended more
// than retention before now.
func deleteExpired(ctx context.Context, c *opensearch.Client, names string, retention time.Duration, now time.Time) ([]string, error) {
	var rows []struct {
		Index string `json:"index"`
	}
	if err := getJSON(ctx, c, "/_cat/indices/"+eventdoc.Pattern(names)+"?format=json&h=index&expand_wildcards=open,closed", &rows); err != nil {
		return nil, fmt.Errorf("list indices %s: %w", eventdoc.Pattern(names), err)
	}
	cutoff := now.UTC().Add(-retention)
	var expired []string
	for _, r := range rows {
		if day, ok := eventdoc.DayOf(names, r.Index); ok && day.Add(24*time.Hour).Before(cutoff) {
			expired = append(expired, r.Index)
		}
	}
	var deleted []string
	for len(expired) > 0 {
		batch := expired[:min(len(expired), deleteBatch)]
		expired = expired[len(batch):]
		status, body, err := do(ctx, c, http.MethodDelete, "/"+strings.Join(batch, ",")+"?ignore_unavailable=true", nil)
		if err != nil {
			return deleted, fmt.Errorf("delete %v: %w", batch, err)
		}
		if status != http.StatusOK {
			return deleted, fmt.Errorf("delete %v: status %d: %.200s", batch, status, body)
		}
		deleted = append(deleted, batch...)
	}
	return deleted, nil
}

// getJSON GETs path and decodes a 200 answer into v.
func getJSON(ctx context.Context, c *opensearch.Client, path string, v any) error {
	status, body, err := do(ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("status %d: %.200s", status, body)
	}
	return json.Unmarshal(body, v)
}

// do performs a raw request (for APIs the typed client does not cover).
func do(ctx context.Context, c *opensearch.Client, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Perform(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}
