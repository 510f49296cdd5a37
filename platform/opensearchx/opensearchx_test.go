package opensearchx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
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
		"DELETE /audit-p-*?ignore_unavailable=true", "DELETE /audit-p?ignore_unavailable=true", "DELETE /_index_template/audit-p", "DELETE /deletions-p?ignore_unavailable=true",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests\n%v\nwant\n%v", got, want)
	}
	srv.Close()
	if err := DeletePrefix(context.Background(), srv.Client(), srv.URL, "p"); err == nil {
		t.Fatal("no error when OpenSearch is gone")
	}
}

// TestDeleteIndicesByNameInBatches: the indices matching the pattern are
// listed (open and closed), those chosen are deleted by name, at most 50 a
// request; what was deleted before a failure is returned with it.
func TestDeleteIndicesByNameInBatches(t *testing.T) {
	var rows []string
	for i := range 120 {
		rows = append(rows, fmt.Sprintf(`{"index":"p-%03d"}`, i))
	}
	var mu sync.Mutex
	var deletes [][]string
	failFrom := -1 // the delete (by number) that fails; -1: none
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			if r.URL.Path != "/_cat/indices/p-*" || r.URL.Query().Get("expand_wildcards") != "open,closed" {
				t.Errorf("list %s", r.URL)
			}
			io.WriteString(w, "["+strings.Join(rows, ",")+"]")
		case http.MethodDelete:
			if r.URL.Query().Get("ignore_unavailable") != "true" || strings.Contains(r.URL.Path, "*") {
				t.Errorf("delete %s", r.URL)
			}
			if len(deletes) == failFrom {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			deletes = append(deletes, strings.Split(strings.TrimPrefix(r.URL.Path, "/"), ","))
			io.WriteString(w, `{"acknowledged":true}`)
		}
	}))
	defer srv.Close()
	c, err := NewClient(Options{URL: srv.URL, Transport: srv.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	even := func(index string) bool { n, _ := strconv.Atoi(strings.TrimPrefix(index, "p-")); return n%2 == 0 } // 60 of them
	deleted, err := DeleteIndices(context.Background(), c, "p-*", even)
	if err != nil || len(deleted) != 60 || len(deletes) != 2 || len(deletes[0]) != 50 || len(deletes[1]) != 10 {
		t.Fatalf("deleted %d (%v) in requests of %d and %d names; want 60 in 50 and 10", len(deleted), err, len(deletes[0]), len(deletes[len(deletes)-1]))
	}
	for _, d := range deleted {
		if !even(d) {
			t.Fatalf("deleted %s, which was not chosen", d)
		}
	}
	deletes, failFrom = nil, 1
	deleted, err = DeleteIndices(context.Background(), c, "p-*", even)
	if !errors.Is(err, ErrUnavailable) || len(deleted) != 50 {
		t.Fatalf("failing second delete: %d deleted, %v; want the first 50 and ErrUnavailable", len(deleted), err)
	}
	if none, err := DeleteIndices(context.Background(), c, "p-*", func(string) bool { return false }); none != nil || err != nil {
		t.Fatalf("nothing chosen: %v %v", none, err)
	}
}

func TestSplitURLs(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"http://127.0.0.1:9200", []string{"http://127.0.0.1:9200"}, false},
		{"http://a:9200, http://b:9200,,http://c:9200 ", []string{"http://a:9200", "http://b:9200", "http://c:9200"}, false},
		{"https://u:p@a:9200", []string{"https://u:p@a:9200"}, false},
		{"", nil, true},
		{" , ", nil, true},
		{"a:9200", nil, true},
		{"http://a:9200,ftp://b", nil, true},
	}
	for _, tt := range tests {
		got, err := SplitURLs(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("SplitURLs(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestClientFailsOverToAnotherNode: with a list of nodes, a request that no
// node answers at one address (it is down) goes to the next at once, its
// body intact; an error answer is returned as it is, not retried elsewhere.
func TestClientFailsOverToAnotherNode(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // connection refused from now on
	var mu sync.Mutex
	var bodies []string
	status := http.StatusOK
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		st := status
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = w.Write([]byte(`{}`))
	}))
	defer up.Close()
	c, err := NewClient(Options{URL: downURL + "," + up.URL})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // round-robin would send half of them to the node that is down
		body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
		if _, err := Do(context.Background(), c, Request{Method: http.MethodPost, Path: "/x/_doc", Body: body}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if want := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`}; !slices.Equal(bodies, want) {
		t.Fatalf("the live node got %q, want %q", bodies, want)
	}
	mu.Lock()
	status, bodies = http.StatusServiceUnavailable, nil
	mu.Unlock()
	_, err = Do(context.Background(), c, Request{Method: http.MethodPost, Path: "/x/_doc", Body: []byte(`{}`)})
	if !errors.Is(err, ErrUnavailable) || len(bodies) != 1 {
		t.Fatalf("a 503: got %v after %d requests, want ErrUnavailable after 1", err, len(bodies))
	}
	// Every node down: no answer is ErrUnavailable.
	up.Close()
	if _, err := Do(context.Background(), c, Request{Method: http.MethodGet, Path: "/"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("every node down: got %v, want ErrUnavailable", err)
	}
}
