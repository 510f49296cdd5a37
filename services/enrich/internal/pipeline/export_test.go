package pipeline

import "time"

// SetClock makes p read the time from now (tests of package pipeline_test).
func SetClock(p *Pipeline, now func() time.Time) { p.now = now }
