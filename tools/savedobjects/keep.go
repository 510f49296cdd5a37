package savedobjects

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// keepAnalystFields returns ndjson with each index pattern's line carrying
// what analysts added to that index pattern in Dashboards, read with one
// _bulk_get: its scripted fields, its field formats for fields the line
// does not format, and its source filters when the line has none. A line
// with nothing to keep (the index pattern is not in Dashboards yet, or has
// nothing of the analysts') is sent unchanged. It also returns what it
// kept, one entry per index pattern.
//
// Scripted fields are written without the flag readFromDocValues: a field
// list in which no field has it makes Dashboards read the fields from the
// cluster again the next time the pattern is opened (keeping the scripted
// ones), as it does for the shipped empty list, so fields added to the
// indices since still appear.
func (im *Importer) keepAnalystFields(ctx context.Context, ndjson []byte) ([]byte, []string, error) {
	lines := bytes.Split(ndjson, []byte("\n"))
	type pattern struct {
		line  int
		id    string
		top   map[string]json.RawMessage
		attrs map[string]any
	}
	var patterns []pattern
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(line, &top); err != nil {
			return nil, nil, fmt.Errorf("import file line %d: %w", i+1, err)
		}
		var typ string
		if t, ok := top["type"]; ok {
			if err := json.Unmarshal(t, &typ); err != nil {
				return nil, nil, fmt.Errorf("import file line %d: type: %w", i+1, err)
			}
		}
		if typ != "index-pattern" {
			continue
		}
		p := pattern{line: i, top: top}
		if err := json.Unmarshal(top["id"], &p.id); err != nil {
			return nil, nil, fmt.Errorf("import file line %d: id: %w", i+1, err)
		}
		if err := json.Unmarshal(top["attributes"], &p.attrs); err != nil {
			return nil, nil, fmt.Errorf("import file line %d: attributes: %w", i+1, err)
		}
		patterns = append(patterns, p)
	}
	if len(patterns) == 0 {
		return ndjson, nil, nil
	}
	ids := make([]string, len(patterns))
	for i, p := range patterns {
		ids[i] = p.id
	}
	current, err := im.indexPatterns(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	var kept []string
	for _, p := range patterns {
		theirs, ok := current[p.id]
		if !ok {
			continue
		}
		attrs, what, err := mergeIndexPattern(p.attrs, theirs)
		if err != nil {
			return nil, nil, fmt.Errorf("index-pattern:%s: %w", p.id, err)
		}
		if what == "" {
			continue
		}
		if p.top["attributes"], err = json.Marshal(attrs); err != nil {
			return nil, nil, err
		}
		if lines[p.line], err = json.Marshal(p.top); err != nil {
			return nil, nil, err
		}
		kept = append(kept, "index-pattern:"+p.id+": "+what)
	}
	return bytes.Join(lines, []byte("\n")), kept, nil
}

// indexPatterns reads the index patterns ids from Dashboards
// (POST /api/saved_objects/_bulk_get) and returns the attributes of those
// it has.
func (im *Importer) indexPatterns(ctx context.Context, ids []string) (map[string]map[string]any, error) {
	const what = "read the index patterns"
	type ref struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	refs := make([]ref, len(ids))
	for i, id := range ids {
		refs[i] = ref{Type: "index-pattern", ID: id}
	}
	body, err := json.Marshal(refs)
	if err != nil {
		return nil, err
	}
	url := strings.TrimRight(im.URL, "/") + "/api/saved_objects/_bulk_get"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	raw, err := im.do(req, what)
	if err != nil {
		return nil, err
	}
	var res struct {
		SavedObjects []struct {
			ID         string         `json:"id"`
			Type       string         `json:"type"`
			Attributes map[string]any `json:"attributes"`
			Error      *struct {
				StatusCode int    `json:"statusCode"`
				Message    string `json:"message"`
			} `json:"error"`
		} `json:"saved_objects"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s: the answer is not the bulk get API's: %w: %.300s", what, err, raw)
	}
	out := map[string]map[string]any{}
	for _, o := range res.SavedObjects {
		switch {
		case o.Error != nil && o.Error.StatusCode == http.StatusNotFound:
		case o.Error != nil:
			return nil, fmt.Errorf("%s: index-pattern:%s: %d %s", what, o.ID, o.Error.StatusCode, o.Error.Message)
		case o.Type == "index-pattern":
			out[o.ID] = o.Attributes
		}
	}
	return out, nil
}

// mergeIndexPattern returns ours with what analysts added to theirs (the
// same index pattern as Dashboards holds it) and a description of it, ""
// when there is nothing to keep.
func mergeIndexPattern(ours, theirs map[string]any) (map[string]any, string, error) {
	out := make(map[string]any, len(ours))
	for k, v := range ours {
		out[k] = v
	}
	var what []string

	var oursFields, theirFields []map[string]any
	if err := jsonString(ours["fields"], &oursFields); err != nil {
		return nil, "", fmt.Errorf("fields: %w", err)
	}
	if err := jsonString(theirs["fields"], &theirFields); err != nil {
		return nil, "", fmt.Errorf("fields in Dashboards: %w", err)
	}
	named := map[string]bool{}
	for _, f := range oursFields {
		named[fmt.Sprint(f["name"])] = true
	}
	var scripted []string
	for _, f := range theirFields {
		name := fmt.Sprint(f["name"])
		if s, _ := f["scripted"].(bool); !s || named[name] {
			continue
		}
		delete(f, "readFromDocValues")
		oursFields = append(oursFields, f)
		scripted = append(scripted, name)
	}
	if len(scripted) > 0 {
		b, err := json.Marshal(oursFields)
		if err != nil {
			return nil, "", err
		}
		out["fields"] = string(b)
		what = append(what, fmt.Sprintf("scripted fields %v", scripted))
	}

	var oursFormats, theirFormats map[string]any
	if err := jsonString(ours["fieldFormatMap"], &oursFormats); err != nil {
		return nil, "", fmt.Errorf("fieldFormatMap: %w", err)
	}
	if err := jsonString(theirs["fieldFormatMap"], &theirFormats); err != nil {
		return nil, "", fmt.Errorf("fieldFormatMap in Dashboards: %w", err)
	}
	var formats []string
	for name, f := range theirFormats {
		if _, shipped := oursFormats[name]; shipped {
			continue
		}
		if oursFormats == nil {
			oursFormats = map[string]any{}
		}
		oursFormats[name] = f
		formats = append(formats, name)
	}
	if len(formats) > 0 {
		b, err := json.Marshal(oursFormats)
		if err != nil {
			return nil, "", err
		}
		out["fieldFormatMap"] = string(b)
		slices.Sort(formats)
		what = append(what, fmt.Sprintf("field formats %v", formats))
	}

	if s, _ := theirs["sourceFilters"].(string); s != "" && s != "[]" {
		if o, _ := ours["sourceFilters"].(string); o == "" || o == "[]" {
			out["sourceFilters"] = s
			what = append(what, "source filters")
		}
	}
	return out, strings.Join(what, ", "), nil
}

// jsonString decodes v, an attribute holding JSON in a string (absent or
// "": nothing), into dst.
func jsonString(v any, dst any) error {
	s, _ := v.(string)
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), dst)
}
