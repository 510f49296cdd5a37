package opensearch

import (
	"testing"
)

func TestNeedsCompaction(t *testing.T) {
	for _, tc := range []struct {
		name string
		docs shardSegments
		want bool
	}{
		{"empty shard", nil, false},
		{"one segment", shardSegments{1000}, false},
		{"a day's refreshes", shardSegments{400, 300, 200, 100}, true},
		{"merged, then a few late events", shardSegments{10000, 12, 3}, false},
		{"merged, then many late events", shardSegments{10000, 900, 300}, true},
		{"many small late segments", shardSegments{100000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, true},
		{"ten segments, one holding 90%", shardSegments{9000, 200, 200, 100, 100, 100, 100, 100, 50, 50}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.docs.needsCompaction(); got != tc.want {
				t.Fatalf("needsCompaction(%v) = %v, want %v", tc.docs, got, tc.want)
			}
		})
	}
}
