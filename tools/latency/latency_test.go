package latency

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/testenv"
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

func TestRecorderWindow(t *testing.T) {
	r := NewRecorder()
	r.Record(50 * time.Millisecond)
	if w := r.Window(); !near(w.Max, 50) {
		t.Fatalf("first window %+v, want max 50 ms", w)
	}
	r.Record(time.Millisecond)
	if w := r.Window(); !near(w.Max, 1) {
		t.Fatalf("second window %+v, want only the 1 ms recorded since the first", w)
	}
	if w := r.Window(); w.Max != 0 {
		t.Fatalf("empty window %+v, want zeros", w)
	}
	if p := r.Percentiles(); !near(p.Max, 50) || r.Count() != 2 {
		t.Fatalf("whole run %+v (count %d): a window must not reset it", p, r.Count())
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

// TestSchedule: closed loop, a sender may send at once until the run's
// context ends; open loop, the send times are OpenLoop's, until it ends.
func TestSchedule(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	closed := NewSchedule(ctx, 0, 1)
	before := time.Now()
	if at, ok := closed.Next(); !ok || at.Before(before) {
		t.Fatalf("closed loop: %v %v, want now and true", at, ok)
	}
	open := NewSchedule(ctx, 1000, 16)
	first, ok := open.Next()
	second, ok2 := open.Next()
	if !ok || !ok2 || second.Sub(first) != time.Millisecond {
		t.Fatalf("open loop at 1000/s: %v then %v (%v %v), want 1ms apart", first, second, ok, ok2)
	}
	cancel()
	if _, ok := closed.Next(); ok {
		t.Fatal("closed loop goes on after its context ended")
	}
	for _, ok := open.Next(); ok; _, ok = open.Next() { // drains, then ends
	}
}

// TestProgress: a line a second, numbered from 1, until stopped; nothing
// without a writer.
func TestProgress(t *testing.T) {
	Progress(nil, func(int) string { t.Fatal("line asked for without a writer"); return "" })()
	var mu sync.Mutex
	var b strings.Builder
	written := func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
	stop := Progress(lockedWriter{&mu, &b}, func(n int) string { return fmt.Sprintf("second %d", n) })
	testenv.Eventually(t, 5*time.Second, "the first line", func() bool { return written() != "" })
	stop() // before the second line is due
	if got := written(); got != "second 1\n" {
		t.Fatalf("progress %q, want one line", got)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
