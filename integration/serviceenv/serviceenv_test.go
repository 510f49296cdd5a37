package serviceenv

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	const keys = "a-write-key-of-16-chars:app-one"
	for _, tc := range []struct {
		name, service string
		env           map[string]string
		tolerated     []string
		want          []string // substrings of the errors, in any order; none: no error
	}{
		{"loads", "ingest", map[string]string{"INGEST_WRITE_KEYS": keys, "NATS_URL": "nats://a:4222,nats://b:4222"}, nil, nil},
		{"misspelt variable", "ingest", map[string]string{"INGEST_WRITE_KEYS": keys, "INGEST_TRUSTED_PROXY": "10.0.0.0/8"}, nil,
			[]string{"sets INGEST_TRUSTED_PROXY, which ingest does not read"}},
		{"tolerated variable", "ingest", map[string]string{"INGEST_WRITE_KEYS": keys, "NOT_YET_READ": "1"}, []string{"NOT_YET_READ"}, nil},
		{"configuration does not load", "query", map[string]string{"OPENSEARCH_URL": "http://a:9200"}, nil,
			[]string{"its configuration does not load", "QUERY_TOKENS"}},
		{"another binary's variable", "enrich", map[string]string{"INGEST_WRITE_KEYS": keys}, nil,
			[]string{"sets INGEST_WRITE_KEYS, which enrich does not read"}},
		{"not a binary", "jaeger", map[string]string{}, nil, []string{"not one of the project's binaries"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Check(tc.service, tc.env, tc.tolerated...)
			var all []string
			for _, err := range errs {
				all = append(all, err.Error())
			}
			joined := strings.Join(all, "\n")
			if len(tc.want) == 0 && len(errs) > 0 {
				t.Fatalf("want no error, got:\n%s", joined)
			}
			if len(tc.want) > 0 && len(errs) == 0 {
				t.Fatalf("want errors containing %q, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Errorf("want an error containing %q, got:\n%s", w, joined)
				}
			}
		})
	}
}
