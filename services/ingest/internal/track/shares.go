package track

import (
	"fmt"
	"sync"
)

// addressShareParts: one client address holds at most this part of a
// budget in bodies being read, and at least one largest body.
const addressShareParts = 8

// AddressBudget is a memory budget for request bodies being read — HTTP
// bodies and gRPC messages alike — of which one client address holds at most
// a share: a body is charged before a byte of it arrives, so a few
// connections or streams that announce large bodies and stall would
// otherwise hold the whole budget and refuse every other caller (with a
// browser's public key or a key extracted from an app, or with no key at all
// on the Segment routes). One address holds at most its share, whichever
// edge its bodies came through, when both edges are given the same
// AddressBudget; others keep the rest. (Spread over many addresses, a flood
// still spends the budget, as any work done before a caller is known can be
// spent.)
type AddressBudget struct {
	budget *Budget
	per    int64
	mu     sync.Mutex
	held   map[string]int64 // address → bytes held; no entry when none
}

// NewAddressBudget shares budget by address: an eighth of it each, and at
// least maxBody, the largest single charge (the largest body on the wire or
// gRPC message), so that one honest request always fits.
func NewAddressBudget(budget *Budget, maxBody int) *AddressBudget {
	return &AddressBudget{budget: budget, per: max(budget.Total()/addressShareParts, int64(maxBody)), held: map[string]int64{}}
}

// Take charges n bytes to addr's share and to the budget; call release
// (once) when they are no longer held. Over the address's share it is
// KindRateLimited (429, RESOURCE_EXHAUSTED); over what the budget has left,
// the budget's error.
func (s *AddressBudget) Take(addr string, n int64) (release func(), err error) {
	if err := s.hold(addr, n); err != nil {
		return nil, err
	}
	releaseBudget, err := s.budget.Take(n)
	if err != nil {
		s.hold(addr, -n)
		return nil, err
	}
	return func() { releaseBudget(); s.hold(addr, -n) }, nil
}

// hold adds n (negative: gives back) to addr's share.
func (s *AddressBudget) hold(addr string, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 && s.held[addr]+n > s.per {
		return &Error{Kind: KindRateLimited, Code: "too_many_requests",
			Message: fmt.Sprintf("this address already has %d bytes of request bodies being read; at most %d", s.held[addr], s.per)}
	}
	if s.held[addr] += n; s.held[addr] <= 0 {
		delete(s.held, addr)
	}
	return nil
}
