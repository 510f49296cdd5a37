package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
)

// ErrNoISM means the cluster has no Index State Management plugin.
var ErrNoISM = fmt.Errorf("the Index Management plugin is not installed")

// ApplyRetentionPolicy creates or updates the ISM policy that deletes
// prefix's daily indices after retention. It returns ErrNoISM when the
// plugin is missing; the caller then deletes expired indices itself.
// Applying an unchanged policy sends no update.
func ApplyRetentionPolicy(ctx context.Context, c *opensearch.Client, prefix string, retention time.Duration) error {
	t, err := templates.RetentionPolicy(prefix, retention)
	if err != nil {
		return err
	}
	path := "/_plugins/_ism/policies/" + url.PathEscape(t.Name)
	status, body, err := do(ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("get ISM policy %s: %w", t.Name, err)
	}
	var current struct {
		SeqNo       *int64          `json:"_seq_no"`
		PrimaryTerm *int64          `json:"_primary_term"`
		Policy      json.RawMessage `json:"policy"`
	}
	switch {
	case noHandler(status, body):
		return ErrNoISM
	case status == http.StatusNotFound:
		status, body, err = do(ctx, c, http.MethodPut, path, t.Body)
	case status == http.StatusOK:
		if err := json.Unmarshal(body, &current); err != nil || current.SeqNo == nil || current.PrimaryTerm == nil {
			return fmt.Errorf("get ISM policy %s: unexpected answer %.200s", t.Name, body)
		}
		if samePolicy(current.Policy, t.Body) {
			return nil
		}
		status, body, err = do(ctx, c, http.MethodPut,
			fmt.Sprintf("%s?if_seq_no=%d&if_primary_term=%d", path, *current.SeqNo, *current.PrimaryTerm), t.Body)
	default:
		return fmt.Errorf("get ISM policy %s: status %d: %.200s", t.Name, status, body)
	}
	if err != nil {
		return fmt.Errorf("put ISM policy %s: %w", t.Name, err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return fmt.Errorf("put ISM policy %s: status %d: %.200s", t.Name, status, body)
	}
	return nil
}

// samePolicy compares the parts of a policy this service sets; the stored
// copy carries more (policy_id, last_updated_time, schema_version, ...).
func samePolicy(stored json.RawMessage, want []byte) bool {
	var w struct {
		Policy json.RawMessage `json:"policy"`
	}
	if json.Unmarshal(want, &w) != nil {
		return false
	}
	a, b := policyCore(stored), policyCore(w.Policy)
	return a != nil && reflect.DeepEqual(a, b)
}

func policyCore(raw json.RawMessage) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	core := map[string]any{"default_state": m["default_state"], "states": m["states"]}
	var tpls []any
	for _, t := range asSlice(m["ism_template"]) {
		if tm, ok := t.(map[string]any); ok {
			tpls = append(tpls, map[string]any{"index_patterns": tm["index_patterns"], "priority": tm["priority"]})
		}
	}
	core["ism_template"] = tpls
	return core
}

func asSlice(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case map[string]any: // a single template may be stored as an object
		return []any{x}
	}
	return nil
}

// noHandler recognises OpenSearch's answer for a REST path no plugin serves.
func noHandler(status int, body []byte) bool {
	return (status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusMethodNotAllowed) &&
		bytes.Contains(body, []byte("no handler found"))
}

// DeleteExpired deletes prefix's daily indices whose day ended more than
// retention before now, and returns their names. It is what keeps retention
// on clusters without ISM; deleting is idempotent, so several enrich
// instances may run it.
func DeleteExpired(ctx context.Context, c *opensearch.Client, prefix string, retention time.Duration, now time.Time) ([]string, error) {
	var rows []struct {
		Index string `json:"index"`
	}
	if err := getJSON(ctx, c, "/_cat/indices/"+eventdoc.Pattern(prefix)+"?format=json&h=index&expand_wildcards=open,closed", &rows); err != nil {
		return nil, fmt.Errorf("list indices: %w", err)
	}
	cutoff := now.UTC().Add(-retention)
	var expired []string
	for _, r := range rows {
		if day, ok := eventdoc.DayOf(prefix, r.Index); ok && day.Add(24*time.Hour).Before(cutoff) {
			expired = append(expired, r.Index)
		}
	}
	if len(expired) == 0 {
		return nil, nil
	}
	status, body, err := do(ctx, c, http.MethodDelete, "/"+strings.Join(expired, ","), nil)
	if err != nil {
		return nil, fmt.Errorf("delete %v: %w", expired, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("delete %v: status %d: %.200s", expired, status, body)
	}
	return expired, nil
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
