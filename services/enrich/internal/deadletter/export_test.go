package deadletter

import "time"

// SetClock and SetPageSize let the tests of package deadletter_test (which
// use the OpenSearch adapter, and so cannot be in package deadletter) fix
// the time and read in small pages.
func SetClock(r *Replayer, now func() time.Time) { r.now = now }
func SetPageSize(r *Replayer, n int)             { r.pageSize = n }
