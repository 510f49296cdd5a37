// Package latency is the one latency schema of the load tools: loadgen and
// querygen record into a Recorder and report Percentiles, in milliseconds,
// under the same JSON keys. OpenLoop paces an open-loop run, Schedule hands
// a run's senders their send times, open or closed loop, and Progress
// prints a run's line a second.
package latency

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Percentiles of latency, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// FromHistogram reads the percentiles of h, whose values are in unit.
func FromHistogram(h *hdrhistogram.Histogram, unit time.Duration) Percentiles {
	ms := func(v int64) float64 { return float64(time.Duration(v)*unit) / float64(time.Millisecond) }
	return Percentiles{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()),
	}
}

// Recorder records latencies from 1 µs to a minute with three significant
// digits. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	h      *hdrhistogram.Histogram
	window *hdrhistogram.Histogram // since the last Window
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{h: newHistogram(), window: newHistogram()}
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

// Record adds one latency (longer than a minute counts as a minute).
func (r *Recorder) Record(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := min(max(d.Microseconds(), 1), r.h.HighestTrackableValue())
	_ = r.h.RecordValue(v)
	_ = r.window.RecordValue(v)
}

// Window returns the percentiles of what was recorded since the previous
// call (since the start for the first) and starts a new window: a run's
// progress line a second shows when its tail grew, which the percentiles
// of the whole run cannot.
func (r *Recorder) Window() Percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := FromHistogram(r.window, time.Microsecond)
	r.window.Reset()
	return p
}

// Count is how many latencies were recorded.
func (r *Recorder) Count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h.TotalCount()
}

// Percentiles of what was recorded so far.
func (r *Recorder) Percentiles() Percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	return FromHistogram(r.h, time.Microsecond)
}

// OpenLoop emits the intended send times of an open-loop run at rate per
// second until ctx ends, then closes the channel. Latency is measured from
// these times, so a slow server cannot hide queueing (no coordinated
// omission). Senders more than buffer sends behind block the schedule; their
// sends then start late and still count from the intended time.
func OpenLoop(ctx context.Context, rate float64, buffer int) <-chan time.Time {
	schedule := make(chan time.Time, buffer)
	go func() {
		defer close(schedule)
		interval := time.Duration(float64(time.Second) / rate)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for next := time.Now(); ; next = next.Add(interval) {
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
			if ctx.Err() != nil {
				return
			}
			select {
			case schedule <- next:
			case <-ctx.Done():
				return
			}
		}
	}()
	return schedule
}

// Schedule hands a run's senders the times their requests are meant to be
// sent: at a fixed rate (open loop, from OpenLoop) or, with rate 0, at once
// for as long as the run's context lasts (closed loop: each sender as fast
// as its answers come).
type Schedule struct {
	ctx  context.Context
	open <-chan time.Time // nil: closed loop
}

// NewSchedule returns the schedule of a run at rate requests per second (0:
// closed loop) until ctx ends; buffer is OpenLoop's.
func NewSchedule(ctx context.Context, rate float64, buffer int) *Schedule {
	s := &Schedule{ctx: ctx}
	if rate > 0 {
		s.open = OpenLoop(ctx, rate, buffer)
	}
	return s
}

// Next waits for the intended send time of a sender's next request, from
// which its latency counts; false once the run is over.
func (s *Schedule) Next() (time.Time, bool) {
	if s.open != nil {
		t, ok := <-s.open
		return t, ok
	}
	if s.ctx.Err() != nil {
		return time.Time{}, false
	}
	return time.Now(), true
}

// Progress writes line(n) to w once a second, n counting the seconds from
// 1, until the returned stop is called; with a nil w it writes nothing.
func Progress(w io.Writer, line func(n int) string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-t.C:
			}
			fmt.Fprintln(w, line(n))
		}
	}()
	return func() { close(done) }
}
