package opensearchx

import (
	"encoding/json"
	"fmt"
)

// Shards is a search answer's "_shards": how many shards the search went to
// and how each answered. OpenSearch answers 200 when only some did: a shard
// that failed is counted in Failed, but one with no copy started (a red
// index, a primary lost with its node) only in Total.
type Shards struct {
	Total      int             `json:"total"`
	Successful int             `json:"successful"`
	Skipped    int             `json:"skipped"`
	Failed     int             `json:"failed"`
	Failures   json.RawMessage `json:"failures,omitempty"`
}

// Partial returns an error wrapping ErrUnavailable when a shard's hits are
// missing from the answer, nil when every shard answered (or was skipped
// as holding nothing that could match). A reader that pages on must not
// take a partial answer as whole: its cursor would pass the missing
// shard's documents for good.
func (s Shards) Partial() error {
	if s.Failed == 0 && s.Successful+s.Skipped >= s.Total {
		return nil
	}
	return fmt.Errorf("%w: %d of %d shards answered (%d failed) %.300s", ErrUnavailable, s.Successful+s.Skipped, s.Total, s.Failed, s.Failures)
}

// Starting reports whether the answer lacks only shards that have not
// started (none failed): a daily index just created has its primary started
// within moments and holds nothing before, so the same search a moment
// later may be whole; a primary lost with its node stays so.
func (s Shards) Starting() bool {
	return s.Failed == 0 && s.Successful+s.Skipped < s.Total
}
