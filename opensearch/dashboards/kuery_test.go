package dashboards

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestParseKuery(t *testing.T) {
	tests := []struct {
		query   string
		want    string // DSL as JSON
		fields  []string
		wantErr bool
	}{
		{query: "", want: "null"},
		{query: `user_id:"u 1"`, want: `{"match_phrase":{"user_id":"u 1"}}`, fields: []string{"user_id"}},
		{query: `status:OK`, want: `{"match":{"status":"OK"}}`, fields: []string{"status"}},
		{query: `not status:OK`, want: `{"bool":{"must_not":[{"match":{"status":"OK"}}]}}`, fields: []string{"status"}},
		{query: `NOT status:OK`, want: `{"bool":{"must_not":[{"match":{"status":"OK"}}]}}`, fields: []string{"status"}},
		{query: `country:*`, want: `{"exists":{"field":"country"}}`, fields: []string{"country"}},
		{query: `event_name:app_*`, want: `{"query_string":{"fields":["event_name"],"query":"app_*"}}`, fields: []string{"event_name"}},
		{query: `a:1 or b:2 and c:3`,
			want:   `{"bool":{"minimum_should_match":1,"should":[{"match":{"a":"1"}},{"bool":{"filter":[{"match":{"b":"2"}},{"match":{"c":"3"}}]}}]}}`,
			fields: []string{"a", "b", "c"}},
		{query: `(a:1 or b:2) and not c:3`,
			want:   `{"bool":{"filter":[{"bool":{"minimum_should_match":1,"should":[{"match":{"a":"1"}},{"match":{"b":"2"}}]}},{"bool":{"must_not":[{"match":{"c":"3"}}]}}]}}`,
			fields: []string{"a", "b", "c"}},
		{query: `os_name:(iOS or "iPad OS")`,
			want:   `{"bool":{"minimum_should_match":1,"should":[{"match":{"os_name":"iOS"}},{"match_phrase":{"os_name":"iPad OS"}}]}}`,
			fields: []string{"os_name", "os_name"}},
		{query: `filters.app_id:shop`, want: `{"match":{"filters.app_id":"shop"}}`, fields: []string{"filters.app_id"}},
		{query: `message:"say \"hi\""`, want: `{"match_phrase":{"message":"say \"hi\""}}`, fields: []string{"message"}},
		{query: `checkout`, wantErr: true},
		{query: `"free text"`, wantErr: true},
		{query: `results > 3`, wantErr: true},
		{query: `a:1 and`, wantErr: true},
		{query: `(a:1`, wantErr: true},
		{query: `a:"open`, wantErr: true},
		{query: `a:1 b:2`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			k, err := ParseKuery(tt.query)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", k)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(k.DSL())
			if string(got) != tt.want {
				t.Errorf("DSL\n got %s\nwant %s", got, tt.want)
			}
			if fmt.Sprint(k.Fields()) != fmt.Sprint(tt.fields) {
				t.Errorf("fields %v, want %v", k.Fields(), tt.fields)
			}
		})
	}
}

func TestDateInterval(t *testing.T) {
	for _, tt := range []struct{ in, kind, value string }{
		{"d", "calendar_interval", "1d"},
		{"1w", "calendar_interval", "1w"},
		{"m", "calendar_interval", "1m"},
		{"M", "calendar_interval", "1M"},
		{"30m", "fixed_interval", "30m"},
		{"2d", "fixed_interval", "2d"},
		{"s", "fixed_interval", "1s"},
		{"2w", "", ""},
		{"auto", "", ""},
	} {
		kind, value, err := dateInterval(tt.in)
		if kind != tt.kind || value != tt.value || (err != nil) != (tt.kind == "") {
			t.Errorf("%s: %s %s %v, want %s %s", tt.in, kind, value, err, tt.kind, tt.value)
		}
	}
}
