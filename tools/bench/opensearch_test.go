package bench

import "testing"

func TestPrimarySegments(t *testing.T) {
	seg := func(index, shard, prirep, docs, size string) segmentRow {
		return segmentRow{Index: index, Shard: shard, Primary: prirep, Docs: docs, Size: size}
	}
	tests := []struct {
		name       string
		rows       []segmentRow
		docs, size int64
		merged     bool
	}{
		{"nothing yet", nil, 0, 0, false},
		{"one segment a day", []segmentRow{seg("e-2026.12.01", "0", "p", "10", "1000"), seg("e-2026.12.02", "0", "p", "5", "600")}, 15, 1600, true},
		{"replicas are not counted", []segmentRow{seg("e-2026.12.01", "0", "p", "10", "1000"), seg("e-2026.12.01", "0", "r", "10", "1000")}, 10, 1000, true},
		{"a shard not merged yet", []segmentRow{seg("e-2026.12.01", "0", "p", "10", "1000"), seg("e-2026.12.01", "0", "p", "4", "300")}, 14, 1300, false},
		{"two shards, one segment each", []segmentRow{seg("e-2026.12.01", "0", "p", "10", "1000"), seg("e-2026.12.01", "1", "p", "4", "300")}, 14, 1300, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, size, merged := primarySegments(tt.rows)
			if docs != tt.docs || size != tt.size || merged != tt.merged {
				t.Fatalf("got %d docs, %d bytes, merged %v; want %d, %d, %v", docs, size, merged, tt.docs, tt.size, tt.merged)
			}
		})
	}
}
