package opensearchx

import (
	"errors"
	"testing"
)

func TestShardsPartial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       Shards
		partial bool
	}{
		{"every shard answered", Shards{Total: 30, Successful: 30}, false},
		{"some skipped by the pre-filter", Shards{Total: 30, Successful: 27, Skipped: 3}, false},
		{"no index matched", Shards{}, false},
		{"one failed", Shards{Total: 30, Successful: 29, Failed: 1, Failures: []byte(`[{"shard":0}]`)}, true},
		{"one with no copy started", Shards{Total: 2, Successful: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Partial()
			if (err != nil) != tt.partial || (err != nil && !errors.Is(err, ErrUnavailable)) {
				t.Fatalf("Partial() = %v, want partial %v wrapping ErrUnavailable", err, tt.partial)
			}
		})
	}
}
