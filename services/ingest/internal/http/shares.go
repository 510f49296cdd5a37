package http

import (
	"fmt"
	"sync"

	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// addressShares caps the bytes one client address may hold at once of a
// memory budget in request bodies being read: a body is charged before a
// byte of it arrives, so a few connections that announce large bodies and
// stall would otherwise hold the whole budget and refuse every other caller
// (with a browser's public key, or with no key at all on the Segment
// routes). One address holds at most its share; others keep the rest.
// (Spread over many addresses, a flood still spends the budget, as any work
// done before a caller is known can be spent.)
type addressShares struct {
	per  int64
	mu   sync.Mutex
	held map[string]int64 // address → bytes held; no entry when none
}

func newAddressShares(per int64) *addressShares {
	return &addressShares{per: per, held: map[string]int64{}}
}

// take charges n bytes to addr; call release (once) when they are no longer
// held. Over the address's share it is KindRateLimited (429).
func (s *addressShares) take(addr string, n int64) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[addr]+n > s.per {
		return nil, &track.Error{Kind: track.KindRateLimited, Code: "too_many_requests",
			Message: fmt.Sprintf("this address already has %d bytes of request bodies being read; at most %d", s.held[addr], s.per)}
	}
	s.held[addr] += n
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held[addr] -= n; s.held[addr] <= 0 {
			delete(s.held, addr)
		}
	}, nil
}
