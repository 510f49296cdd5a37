package track

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Budget bounds the memory that every request being decoded holds at once,
// across both edges: the decompressed body and the structures decoded from
// it are charged before they are built. A request that does not fit is
// refused at once (503) instead of growing the process.
type Budget struct {
	total int64
	sem   *semaphore.Weighted
	held  atomic.Int64
}

// NewBudget returns a budget of total bytes.
func NewBudget(total int64) *Budget {
	return &Budget{total: total, sem: semaphore.NewWeighted(total)}
}

// Total is the budget's size.
func (b *Budget) Total() int64 { return b.total }

// Held is what is charged now.
func (b *Budget) Held() int64 { return b.held.Load() }

// Take charges n bytes; call release (once) when they are no longer held.
// A charge larger than the whole budget is KindTooLarge; a charge that does
// not fit now is KindOverloaded.
func (b *Budget) Take(n int64) (release func(), err error) {
	if n <= 0 {
		return func() {}, nil
	}
	if n > b.total {
		return nil, &Error{Kind: KindTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the request needs %d bytes of memory to decode; at most %d", n, b.total)}
	}
	if !b.sem.TryAcquire(n) {
		return nil, &Error{Kind: KindOverloaded, Code: "overloaded",
			Message: "too many large requests are being decoded; retry later"}
	}
	b.held.Add(n)
	return func() { b.held.Add(-n); b.sem.Release(n) }, nil
}

// Releases collects the release functions of one request's charges.
type Releases []func()

// Release returns every charge.
func (r *Releases) Release() {
	for _, f := range *r {
		f()
	}
	*r = nil
}
