package periodic

import (
	"context"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		interval  time.Duration
		cancelAt  int // the call that cancels the context
		wantCalls int
	}{
		{"at once, before the first tick", time.Hour, 1, 1},
		{"then at every tick until the end", time.Millisecond, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				Run(ctx, tt.interval, func(context.Context) {
					if calls++; calls == tt.cancelAt {
						cancel()
					}
				})
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
			if calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
		})
	}
}
