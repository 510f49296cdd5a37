package bench

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestWarmUp(t *testing.T) {
	t.Parallel()
	broken := errors.New("round failed")
	tests := []struct {
		name   string
		limit  int
		rounds []float64 // what each round measures
		failAt int       // -1: none
		want   []float64 // discarded rounds
	}{
		{"steady at once: two rounds", 4, []float64{100, 105, 200}, -1, []float64{100, 105}},
		{"a little slower is warm too", 4, []float64{100, 95, 200}, -1, []float64{100, 95}},
		{"much slower was disturbed: on", 4, []float64{32.8, 24.2, 41.8, 42.0, 50}, -1, []float64{32.8, 24.2, 41.8, 42.0}},
		{"rising until steady", 4, []float64{19, 25.3, 28.6, 29, 40}, -1, []float64{19, 25.3, 28.6, 29}},
		{"exactly 10% faster counts as steady", 4, []float64{100, 110, 200}, -1, []float64{100, 110}},
		{"still rising at the limit", 3, []float64{10, 20, 40, 80}, -1, []float64{10, 20, 40}},
		{"a limit of one: the single warm-up round", 1, []float64{10, 20}, -1, []float64{10}},
		{"a limit of zero still warms once", 0, []float64{10, 20}, -1, []float64{10}},
		{"an error ends it", 4, []float64{10, 20, 40}, 1, []float64{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := warmUp(tt.limit, func(i int) (float64, error) {
				if i == tt.failAt {
					return 0, broken
				}
				return tt.rounds[i], nil
			})
			if (tt.failAt >= 0) != errors.Is(err, broken) {
				t.Fatalf("err = %v, want the round's error: %v", err, tt.failAt >= 0)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warm-up rounds = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWarmCeiling(t *testing.T) {
	t.Parallel()
	var calls []string
	s, err := warmCeiling(4, 3, func(i int, measured bool) (float64, error) {
		calls = append(calls, fmt.Sprint(i, measured))
		if measured {
			return []float64{0, 44, 43, 45}[i], nil
		}
		return []float64{19, 33, 41, 42}[i], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0 false", "1 false", "2 false", "3 false", "1 true", "2 true", "3 true"}; !slices.Equal(calls, want) {
		t.Errorf("rounds run = %q, want %q", calls, want)
	}
	if !slices.Equal(s.Warmup, []float64{19, 33, 41, 42}) || !slices.Equal(s.Rounds, []float64{44, 43, 45}) || s.Median != 44 {
		t.Errorf("summary = %+v, want warm-up 19 33 41 42, rounds 44 43 45, median 44", s)
	}

	broken := errors.New("round failed")
	if _, err := warmCeiling(4, 3, func(i int, measured bool) (float64, error) {
		if measured && i == 2 {
			return 0, broken
		}
		return 10, nil
	}); !errors.Is(err, broken) {
		t.Errorf("a failed measured round: err = %v, want it", err)
	}
}
