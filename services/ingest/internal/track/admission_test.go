package track

import (
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	g := NewGate(2)
	r1, err := g.Enter(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.Enter(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Enter(time.Second)
	te, ok := AsError(err)
	if !ok || te.Kind != KindOverloaded || te.RetryAfter != time.Second {
		t.Fatalf("third Enter: %v", err)
	}
	r1()
	if _, err := g.Enter(time.Second); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	r2()
	if g.InUse() != 1 {
		t.Fatalf("in use %d", g.InUse())
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		takes     []int
		wantLast  bool
		wantRetry time.Duration
	}{
		{"within burst", []int{50, 50}, true, 0},
		{"over burst", []int{80, 40}, false, 200 * time.Millisecond},
		{"larger than the bucket", []int{101}, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRateLimiter(100, 100)
			var ok bool
			var retry time.Duration
			for _, n := range tt.takes {
				ok, retry = r.Take("app", n, now)
			}
			if ok != tt.wantLast || retry != tt.wantRetry {
				t.Fatalf("got %v %v, want %v %v", ok, retry, tt.wantLast, tt.wantRetry)
			}
		})
	}
	t.Run("apps have separate buckets", func(t *testing.T) {
		r := NewRateLimiter(10, 10)
		if ok, _ := r.Take("a", 10, now); !ok {
			t.Fatal("a refused")
		}
		if ok, _ := r.Take("b", 10, now); !ok {
			t.Fatal("b refused because of a")
		}
	})
	t.Run("refused request takes no tokens", func(t *testing.T) {
		r := NewRateLimiter(10, 10)
		r.Take("a", 8, now)
		if ok, _ := r.Take("a", 5, now); ok {
			t.Fatal("over-limit request accepted")
		}
		if ok, _ := r.Take("a", 2, now); !ok {
			t.Fatal("refused request consumed tokens")
		}
	})
	if ok, _ := (*RateLimiter)(nil).Take("a", 1e9, now); !ok {
		t.Fatal("disabled limiter refused")
	}
}
