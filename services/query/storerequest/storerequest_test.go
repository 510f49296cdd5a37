package storerequest

import (
	"encoding/json"
	"strings"
	"testing"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

func TestSearchEvents(t *testing.T) {
	tests := []struct {
		name    string
		apps    []string
		req     *queryv1.SearchEventsRequest
		want    []string // fragments of the body
		wantNot []string
		wantErr string
	}{
		{"a user's first page, every app", nil, &queryv1.SearchEventsRequest{UserId: "user-7"},
			[]string{`"size":51`, `{"term":{"user_id":"user-7"}}`, `"track_total_hits":false`}, []string{"app_id", "search_after"}, ""},
		{"scoped to the reader's apps", []string{"app-a", "app-b"}, &queryv1.SearchEventsRequest{UserId: "user-7", PageSize: 10},
			[]string{`"size":11`, `{"terms":{"app_id":["app-a","app-b"]}}`}, nil, ""},
		{"an app the reader may not read", []string{"app-a"}, &queryv1.SearchEventsRequest{UserId: "user-7", AppId: "app-z"},
			nil, nil, "may not read app app-z"},
		{"a page size out of bounds", nil, &queryv1.SearchEventsRequest{UserId: "user-7", PageSize: 5000}, nil, nil, "page_size"},
		{"a later page", nil, &queryv1.SearchEventsRequest{UserId: "user-7", PageToken: "x"}, nil, nil, "first page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := SearchEvents("events", tt.apps, tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := "/events-*/_search?allow_no_indices=true&ignore_unavailable=true"; r.Path != want {
				t.Errorf("path %q, want %q", r.Path, want)
			}
			if !json.Valid(r.Body) {
				t.Fatalf("body is not JSON: %s", r.Body)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(r.Body), w) {
					t.Errorf("body %s lacks %s", r.Body, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(string(r.Body), w) {
					t.Errorf("body %s has %s", r.Body, w)
				}
			}
		})
	}
}
