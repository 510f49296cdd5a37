package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// Do sends one JSON request to OpenSearch and returns the response body; a
// transport error or a status of 300 or more fails the test.
func Do(t testing.TB, method, url string, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, out)
	}
	return out
}

// Doc is one document for Bulk: its index, id and source (any value that
// encodes to a JSON object).
type Doc struct {
	Index  string
	ID     string
	Source any
}

// Bulk writes docs to OpenSearch at url with _bulk create and refreshes, so
// they are searchable when it returns. Any refused document fails the test.
func Bulk(t testing.TB, url string, docs ...Doc) {
	t.Helper()
	var body bytes.Buffer
	for _, d := range docs {
		action, _ := json.Marshal(map[string]any{"create": map[string]string{"_index": d.Index, "_id": d.ID}})
		src, err := json.Marshal(d.Source)
		if err != nil {
			t.Fatalf("encode %s/%s: %v", d.Index, d.ID, err)
		}
		body.Write(action)
		body.WriteByte('\n')
		body.Write(src)
		body.WriteByte('\n')
	}
	out := Do(t, http.MethodPost, url+"/_bulk?refresh=true", body.Bytes())
	var res struct {
		Errors bool             `json:"errors"`
		Items  []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("bulk response: %v", err)
	}
	if res.Errors || len(res.Items) != len(docs) {
		t.Fatalf("bulk of %d documents: %s", len(docs), fmt.Sprintf("%.2000s", out))
	}
}
