package retry

import (
	"context"
	"errors"
	"log/slog"
	"testing"
)

func TestUntil(t *testing.T) {
	errDown := errors.New("down")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		failures  int // f fails this many times, then succeeds
		wantCalls int
		wantErr   bool
	}{
		{"succeeds at once", context.Background(), 0, 1, false},
		{"succeeds on the third call", context.Background(), 2, 3, false},
		{"gives up when ctx ends", cancelled, 5, 1, true},
	}
	t.Run("a permanent error ends it at once", func(t *testing.T) {
		calls := 0
		err := Until(context.Background(), slog.New(slog.DiscardHandler), "reach it", func() error {
			calls++
			return Permanent(errDown)
		})
		if calls != 1 || !errors.Is(err, errDown) {
			t.Fatalf("f called %d times, err %v; want once, errDown", calls, err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Until(tt.ctx, slog.New(slog.DiscardHandler), "reach it", func() error {
				calls++
				if calls <= tt.failures {
					return errDown
				}
				return nil
			})
			if calls != tt.wantCalls {
				t.Errorf("f called %d times, want %d", calls, tt.wantCalls)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, errDown) || !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want f's error and the context's", err)
			}
		})
	}
}
