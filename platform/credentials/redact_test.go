package credentials

import (
	"strings"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://alice:s3cret@10.0.0.1:4222", "nats://redacted@10.0.0.1:4222"},
		{"nats://tok3n@10.0.0.1:4222", "nats://redacted@10.0.0.1:4222"},
		{"nats://a:b@n1:4222, nats://n2:4222,nats://c:d@n3:4222", "nats://redacted@n1:4222,nats://n2:4222,nats://redacted@n3:4222"},
		{"https://admin:pw@search.internal:9200/", "https://redacted@search.internal:9200/"},
		{"nats://bad:%zz@host", "(unparsable URL with credentials, redacted)"},
	}
	for _, tt := range tests {
		got := RedactURLs(tt.in)
		if got != tt.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"s3cret", "tok3n", "alice", ":b@", ":d@", "pw@", "%zz"} {
			if strings.Contains(got, secret) {
				t.Errorf("RedactURLs(%q) = %q leaks %q", tt.in, got, secret)
			}
		}
	}
}
