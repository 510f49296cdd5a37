package opensearchx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestDeletePrefix(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/_index_template/") && r.URL.RawQuery != "":
			w.WriteHeader(http.StatusBadRequest) // as OpenSearch answers an unknown parameter
		case r.URL.Path == "/_index_template/audit-p":
			w.WriteHeader(http.StatusNotFound) // missing: fine
		}
	}))
	defer srv.Close()
	if err := DeletePrefix(context.Background(), srv.Client(), srv.URL, "p"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DELETE /p-*?ignore_unavailable=true", "DELETE /_index_template/p",
		"DELETE /deadletter-p-*?ignore_unavailable=true", "DELETE /deadletter-p?ignore_unavailable=true", "DELETE /_index_template/deadletter-p",
		"DELETE /audit-p-*?ignore_unavailable=true", "DELETE /audit-p?ignore_unavailable=true", "DELETE /_index_template/audit-p",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests\n%v\nwant\n%v", got, want)
	}
	srv.Close()
	if err := DeletePrefix(context.Background(), srv.Client(), srv.URL, "p"); err == nil {
		t.Fatal("no error when OpenSearch is gone")
	}
}
