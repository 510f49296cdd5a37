package stats

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name       string
		rounds     []float64
		want       Summary
		wantSpread float64
		wantNoisy  bool
	}{
		{"odd count", []float64{100, 90, 110}, Summary{Median: 100, Min: 90, Max: 110}, 0.10, false},
		{"even count takes the mean of the middle two", []float64{100, 120, 80, 110}, Summary{Median: 105, Min: 80, Max: 120}, 25.0 / 105, true},
		{"one round", []float64{42}, Summary{Median: 42, Min: 42, Max: 42}, 0, false},
		{"exactly ±15% is not noisy", []float64{85, 100, 115}, Summary{Median: 100, Min: 85, Max: 115}, 0.15, false},
		{"one low outlier is noisy", []float64{100, 101, 60}, Summary{Median: 100, Min: 60, Max: 101}, 0.40, true},
		{"all zero", []float64{0, 0, 0}, Summary{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Summarize(tt.rounds)
			if err != nil {
				t.Fatal(err)
			}
			if got.Median != tt.want.Median || got.Min != tt.want.Min || got.Max != tt.want.Max {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if len(got.Rounds) != len(tt.rounds) || got.Rounds[0] != tt.rounds[0] {
				t.Fatalf("rounds %v, want %v in measured order", got.Rounds, tt.rounds)
			}
			if math.Abs(got.Spread()-tt.wantSpread) > 1e-9 || got.Noisy() != tt.wantNoisy {
				t.Fatalf("spread %v noisy %v, want %v %v", got.Spread(), got.Noisy(), tt.wantSpread, tt.wantNoisy)
			}
		})
	}
	if _, err := Summarize(nil); err == nil {
		t.Fatal("summarized no rounds")
	}
}

func TestLoadPoints(t *testing.T) {
	tests := []struct {
		name      string
		ceiling   float64
		per       int
		fractions []float64
		want      []LoadPoint
		wantErr   bool
	}{
		{"ingest's quarters of its max", 600000, 100, []float64{0.25, 0.5, 0.75},
			[]LoadPoint{{0.25, 150000, 1500}, {0.5, 300000, 3000}, {0.75, 450000, 4500}}, false},
		{"rounded to whole requests", 38618, 100, []float64{0.4}, []LoadPoint{{0.4, 15447.2, 154}}, false},
		{"single units", 80, 1, []float64{0.25}, []LoadPoint{{0.25, 20, 20}}, false},
		{"at least a request a second", 50, 100, []float64{0.5}, []LoadPoint{{0.5, 25, 1}}, false},
		{"no ceiling measured", 0, 100, []float64{0.5}, nil, true},
		{"a NaN ceiling", math.NaN(), 100, []float64{0.5}, nil, true},
		{"a zero fraction", 1000, 100, []float64{0}, nil, true},
		{"no batch size", 1000, 0, []float64{0.5}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadPoints(tt.ceiling, tt.per, tt.fractions...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Fraction != tt.want[i].Fraction || math.Abs(got[i].Units-tt.want[i].Units) > 1e-6 || got[i].Rate != tt.want[i].Rate {
					t.Fatalf("point %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestGrowing(t *testing.T) {
	tests := []struct {
		name                string
		before, after, sent float64
		want                bool
	}{
		{"flat at zero", 0, 0, 2100, false},
		{"jitter under ten messages", 3, 12, 100, false},
		{"under 1% of what was sent", 100, 120, 4900, false},
		{"more than 1% of what was sent", 294, 1744, 4900, true},
		{"shrinking", 500, 0, 4900, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Growing(tt.before, tt.after, tt.sent); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWarm(t *testing.T) {
	tests := []struct {
		name   string
		warmup []float64
		want   bool
	}{
		{"none recorded", nil, false},
		{"one round: nothing to compare", []float64{100}, false},
		{"within 10%", []float64{100, 109}, true},
		{"a little slower", []float64{100, 91}, true},
		{"much slower: disturbed", []float64{100, 70}, false},
		{"still rising", []float64{19.0, 25.3, 28.6}, false},
		{"rising, then steady", []float64{19.0, 25.3, 28.6, 29.0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Summary{Warmup: tt.warmup}).Warm(); got != tt.want {
				t.Errorf("Warm() of warm-up %v = %v, want %v", tt.warmup, got, tt.want)
			}
		})
	}
}
