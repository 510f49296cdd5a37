package latency

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// The one schema: loadgen and querygen results both carry these keys.
func TestPercentilesJSONKeys(t *testing.T) {
	b, err := json.Marshal(Percentiles{P50: 1, P90: 2, P99: 3, P999: 4, Max: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"p50":1,"p90":2,"p99":3,"p99_9":4,"max":5}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

func TestRecorder(t *testing.T) {
	tests := []struct {
		name    string
		record  []time.Duration
		wantP50 float64
		wantMax float64
	}{
		{"milliseconds", []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}, 2, 3},
		{"below a microsecond counts as one", []time.Duration{0, 0}, 0.001, 0.001},
		{"above a minute counts as a minute", []time.Duration{2 * time.Minute}, 60000, 60000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder()
			for _, d := range tt.record {
				r.Record(d)
			}
			p := r.Percentiles()
			// three significant digits
			if !near(p.P50, tt.wantP50) || !near(p.Max, tt.wantMax) || r.Count() != int64(len(tt.record)) {
				t.Fatalf("got %+v (count %d), want p50 %v max %v", p, r.Count(), tt.wantP50, tt.wantMax)
			}
		})
	}
}

func near(a, b float64) bool { return a >= b*0.999 && a <= b*1.001 }

func TestOpenLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := OpenLoop(ctx, 1000, 16)
	first := <-s
	for i := 1; i < 10; i++ {
		next := <-s
		if got := next.Sub(first); got != time.Duration(i)*time.Millisecond {
			t.Fatalf("send %d intended %v after the first, want %v", i, got, time.Duration(i)*time.Millisecond)
		}
	}
	cancel()
	for range s { // drains, then closes
	}
}
