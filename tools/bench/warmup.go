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
