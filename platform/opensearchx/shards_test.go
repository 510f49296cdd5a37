package opensearchx

import (
	"errors"
	"testing"
)

func TestShardsPartial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		s        Shards
		partial  bool
		starting bool
	}{
		{"every shard answered", Shards{Total: 30, Successful: 30}, false, false},
		{"some skipped by the pre-filter", Shards{Total: 30, Successful: 27, Skipped: 3}, false, false},
		{"no index matched", Shards{}, false, false},
		{"one failed", Shards{Total: 30, Successful: 29, Failed: 1, Failures: []byte(`[{"shard":0}]`)}, true, false},
		{"one with no copy started", Shards{Total: 2, Successful: 1}, true, true},
		{"one failed, one not started", Shards{Total: 3, Successful: 1, Failed: 1}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Partial()
			if (err != nil) != tt.partial || (err != nil && !errors.Is(err, ErrUnavailable)) {
				t.Fatalf("Partial() = %v, want partial %v wrapping ErrUnavailable", err, tt.partial)
			}
			if got := tt.s.Starting(); got != tt.starting {
				t.Fatalf("Starting() = %v, want %v", got, tt.starting)
			}
		})
	}
}
