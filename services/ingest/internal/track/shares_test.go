package track

import (
	"strings"
	"testing"
)

func TestAddressBudget(t *testing.T) {
	t.Parallel()
	s := NewAddressBudget(NewBudget(32), 4) // a share of 32/8 = 4
	var releases []func()
	for i, tt := range []struct {
		addr string
		n    int64
		ok   bool
	}{
		{"a", 3, true},
		{"a", 2, false}, // 5 > 4
		{"b", 4, true},  // another address has its own share
		{"a", 1, true},
		{"a", 1, false},
	} {
		release, err := s.Take(tt.addr, tt.n)
		if (err == nil) != tt.ok {
			t.Fatalf("take %d (%s, %d): %v, want ok %v", i, tt.addr, tt.n, err, tt.ok)
		}
		if err != nil {
			if te, _ := AsError(err); te == nil || te.Kind != KindRateLimited || te.Code != "too_many_requests" ||
				!strings.Contains(te.Message, "at most 4") {
				t.Fatalf("take %d: %v, want KindRateLimited too_many_requests naming the share of 4", i, err)
			}
			continue
		}
		releases = append(releases, release)
	}
	for _, r := range releases {
		r()
	}
	if len(s.held) != 0 {
		t.Fatalf("held %v after every release", s.held)
	}
	if _, err := s.Take("a", 4); err != nil {
		t.Fatalf("a whole share after the releases: %v", err)
	}

	// A charge the budget cannot take gives the address's share back.
	s = NewAddressBudget(NewBudget(6), 4) // a share of one largest body, 4
	if _, err := s.Take("a", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take("b", 4); err == nil {
		t.Fatal("8 bytes taken of a budget of 6")
	} else if te, _ := AsError(err); te == nil || te.Kind != KindOverloaded {
		t.Fatalf("%v, want the budget's KindOverloaded", err)
	}
	if s.held["b"] != 0 {
		t.Fatalf("b holds %d after the budget refused it", s.held["b"])
	}
}
