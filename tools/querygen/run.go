// Package querygen sends support-style queries to the query service's HTTP
// face — a random user's first page of events, or their summary — open loop
// at a fixed rate (latency from the intended send time) or closed loop as
// fast as its workers go, and measures them with loadgen's latency schema.
package querygen

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/evtrack/telemetry/tools/latency"
)

// Config is one query run.
type Config struct {
	BaseURL     string // the query service's HTTP base URL
	Token       string // a read token
	Users       int    // user ids user-0 … user-(Users-1) to pick from
	Query       string // "events" (a user's first page) or "summary"
	Rate        float64
	Concurrency int           // workers and connections
	Duration    time.Duration // measured time
	Warmup      time.Duration // unmeasured time before it
	Timeout     time.Duration // per query
	Progress    io.Writer     // a line per second; nil for none
}

// Result is what a run measured.
type Result struct {
	Mode           string              `json:"mode"`
	Query          string              `json:"query"`
	Concurrency    int                 `json:"concurrency"`
	TargetRate     float64             `json:"target_requests_per_sec,omitempty"`
	Seconds        float64             `json:"seconds"`
	Requests       int64               `json:"requests"`
	RequestsPerSec float64             `json:"requests_per_sec"`
	Statuses       map[string]int      `json:"statuses"`
	TransportErrs  int64               `json:"transport_errors"`
	EmptyResults   int64               `json:"empty_results"`
	LatencyMs      latency.Percentiles `json:"latency_ms"`
}

// Run queries cfg.BaseURL until the duration is over or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	var path func(user string) string
	switch cfg.Query {
	case "", "events":
		cfg.Query = "events"
		path = func(u string) string { return "/v1/users/" + u + "/events" }
	case "summary":
		path = func(u string) string { return "/v1/users/" + u + "/summary" }
	default:
		return Result{}, fmt.Errorf("query %q: want events or summary", cfg.Query)
	}
	if cfg.Users < 1 || cfg.Concurrency < 1 {
		return Result{}, fmt.Errorf("users %d, concurrency %d: want at least 1 of each", cfg.Users, cfg.Concurrency)
	}
	client := &fasthttp.Client{MaxConnsPerHost: cfg.Concurrency, ReadTimeout: cfg.Timeout, NoDefaultUserAgentHeader: true}
	res := Result{Mode: "closed-loop", Query: cfg.Query, Concurrency: cfg.Concurrency, TargetRate: cfg.Rate, Statuses: map[string]int{}}
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	if cfg.Rate > 0 {
		res.Mode = "open-loop"
	}
	schedule := latency.NewSchedule(ctx, cfg.Rate, 1<<14)
	hist := latency.NewRecorder()
	var mu sync.Mutex // guards res
	var done atomic.Int64
	var last int64
	stopProgress := latency.Progress(cfg.Progress, func(s int) string {
		n := done.Load()
		line := fmt.Sprintf("t=%3ds  queries/s=%6d  p99(so far)=%7.2fms", s, n-last, hist.Percentiles().P99)
		last = n
		return line
	})
	defer stopProgress()
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				intended, ok := schedule.Next()
				if !ok {
					return
				}
				req.Reset()
				req.SetRequestURI(cfg.BaseURL + path("user-"+strconv.Itoa(rng.IntN(cfg.Users))))
				req.Header.Set("Authorization", "Bearer "+cfg.Token)
				err := client.DoTimeout(req, resp, cfg.Timeout)
				finished := time.Now()
				if intended.Before(measureFrom) || finished.After(end) {
					continue
				}
				done.Add(1)
				hist.Record(finished.Sub(intended))
				mu.Lock()
				if err != nil {
					res.TransportErrs++
				} else {
					res.Statuses[strconv.Itoa(resp.StatusCode())]++
					if len(resp.Body()) < 20 {
						res.EmptyResults++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = min(max(time.Since(measureFrom), 0), cfg.Duration).Seconds()
	res.Requests = done.Load()
	if res.Seconds > 0 {
		res.RequestsPerSec = float64(res.Requests) / res.Seconds
	}
	res.LatencyMs = hist.Percentiles()
	return res, nil
}
