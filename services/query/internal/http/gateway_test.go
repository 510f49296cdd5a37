package http

import "testing"

func TestSpanPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ path, want string }{
		{"/v1/users/alice@example.com/events", "/v1/users/{user_id}/events"},
		{"/v1/users/alice/summary", "/v1/users/{user_id}/summary"},
		{"/v1/users/alice", "/v1/users/{user_id}"},
		{"/v1/users/", "/v1/users/{user_id}"},
		{"/v1/events", "/v1/events"},
		{"/v1/deletions/0123abcd", "/v1/deletions/0123abcd"},
	} {
		if got := spanPath(tt.path); got != tt.want {
			t.Errorf("spanPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
