// Package stats is the benchmark's arithmetic: a ceiling measured over
// repeated rounds is reported as its median and range, flagged noisy when
// the range is wide, after warm-up rounds until the node is warm; load
// points are fractions of a ceiling of the same run; a backlog is growing or
// flat.
package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// NoisyAbove is the spread (see Summary.Spread) above which a ceiling is
// flagged noisy: its rounds disagree by more than ±15% around the median.
const NoisyAbove = 0.15

// Summary is a measurement repeated over rounds.
type Summary struct {
	Median, Min, Max float64
	Rounds           []float64 // in the order measured
	Warmup           []float64 // the discarded warm-up rounds before them, in order (when reported)
}

// Summarize summarizes the rounds' values (not the discarded warm-up).
func Summarize(values []float64) (Summary, error) {
	if len(values) == 0 {
		return Summary{}, errors.New("summarize: no rounds")
	}
	s := slices.Clone(values)
	slices.Sort(s)
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: median, Min: s[0], Max: s[len(s)-1], Rounds: slices.Clone(values)}, nil
}

// Spread is the larger distance of the range's ends from the median, as a
// fraction of the median (0.1: every round within ±10% of the median).
func (s Summary) Spread() float64 {
	if s.Median == 0 {
		if s.Min == s.Max {
			return 0
		}
		return math.Inf(1)
	}
	return max(s.Median-s.Min, s.Max-s.Median) / math.Abs(s.Median)
}

// Noisy reports whether the rounds disagree by more than ±NoisyAbove.
func (s Summary) Noisy() bool { return s.Spread() > NoisyAbove }

// WarmSteady is how far from the round before a warm-up round may land for
// the node to count as warm: a JVM still compiling and caches still filling
// make each round faster than the last (OpenSearch's raw _bulk rounds once
// rose 19.0k → 25.3k → 28.6k documents/s after one warm-up), and a round
// much slower than the one before was disturbed, which says nothing either.
const WarmSteady = 0.10

// Steady reports whether rate, a warm-up round after one of prev, shows the
// node warm: within ±WarmSteady of it.
func Steady(prev, rate float64) bool { return math.Abs(rate-prev) <= prev*WarmSteady }

// Warm reports whether the warm-up rounds ended steady (the last two, see
// Steady): the node had stopped getting faster when the measured rounds
// began. False when fewer than two were recorded.
func (s Summary) Warm() bool {
	n := len(s.Warmup)
	return n >= 2 && Steady(s.Warmup[n-2], s.Warmup[n-1])
}

// LoadPoint is a load chosen as a fraction of a ceiling.
type LoadPoint struct {
	Fraction float64 // of the ceiling
	Units    float64 // Fraction × the ceiling, in the ceiling's unit (events/s)
	Rate     float64 // requests per second that carry Units, at per units a request
}

// LoadPoints turns fractions of a ceiling (in units per second, e.g.
// events/s) into request rates for requests of per units each (e.g. 100
// events a batch). A rate is never below one request a second.
func LoadPoints(ceiling float64, per int, fractions ...float64) ([]LoadPoint, error) {
	if !(ceiling > 0) || math.IsInf(ceiling, 0) {
		return nil, fmt.Errorf("load points: ceiling %v: want a measured, positive ceiling", ceiling)
	}
	if per < 1 {
		return nil, fmt.Errorf("load points: %d units a request: want at least 1", per)
	}
	points := make([]LoadPoint, 0, len(fractions))
	for _, f := range fractions {
		if !(f > 0) {
			return nil, fmt.Errorf("load points: fraction %v: want above 0", f)
		}
		units := ceiling * f
		points = append(points, LoadPoint{Fraction: f, Units: units, Rate: max(1, math.Round(units/float64(per)))})
	}
	return points, nil
}

// Growing reports whether a backlog sampled before and after a stretch of
// load grew by more than 1% of the messages sent meanwhile (and by more than
// 10 messages, so a flat backlog's jitter is not growth).
func Growing(before, after, sentBetween float64) bool {
	return after-before > max(10, sentBetween*0.01)
}
