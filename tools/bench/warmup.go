package bench

import "github.com/evtrack/telemetry/tools/bench/stats"

// warmUp runs round(0), round(1), … and discards them until the node has
// stopped getting faster (stats.Steady: a round within ±stats.WarmSteady
// of the one before), or limit rounds have run (at least one
// runs). It returns the discarded rounds' rates, in order.
func warmUp(limit int, round func(i int) (float64, error)) ([]float64, error) {
	var rates []float64
	for i := 0; i < max(1, limit); i++ {
		rate, err := round(i)
		if err != nil {
			return rates, err
		}
		rates = append(rates, rate)
		if i > 0 && stats.Steady(rates[i-1], rate) {
			break
		}
	}
	return rates, nil
}

// warmCeiling measures a ceiling of a node that warms up: warm-up rounds
// discarded until it is steady (warmUp, at most warmups), then rounds
// measured rounds, summarized with the warm-up rounds recorded.
// round(i, false) runs warm-up round i (from 0), round(i, true) measured
// round i (from 1).
func warmCeiling(warmups, rounds int, round func(i int, measured bool) (float64, error)) (stats.Summary, error) {
	warm, err := warmUp(warmups, func(i int) (float64, error) { return round(i, false) })
	if err != nil {
		return stats.Summary{}, err
	}
	rates := make([]float64, 0, rounds)
	for i := 1; i <= rounds; i++ {
		rate, err := round(i, true)
		if err != nil {
			return stats.Summary{}, err
		}
		rates = append(rates, rate)
	}
	s, err := stats.Summarize(rates)
	if err != nil {
		return stats.Summary{}, err
	}
	s.Warmup = warm
	return s, nil
}
