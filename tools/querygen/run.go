// Package querygen sends support-style queries to the query service's HTTP
// face — a random user's first page of events, or their summary — open loop
// at a fixed rate (latency from the intended send time) or closed loop as
// fast as its workers go, and measures them with loadgen's latency schema.
// With the target "opensearch" it sends a first page's search straight to
// OpenSearch instead: the very request the query service would send for it
// (services/query/storerequest), the raw side of the service's overhead.
package querygen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/storerequest"
	"github.com/evtrack/telemetry/tools/latency"
)

// Targets querygen sends to.
const (
	TargetQuery      = "query"      // the query service's HTTP face
	TargetOpenSearch = "opensearch" // OpenSearch itself, the service's request for the query
)

// Config is one query run.
type Config struct {
	Target      string   // TargetQuery (empty too) or TargetOpenSearch
	BaseURL     string   // the target's HTTP base URL
	Token       string   // a read token (TargetQuery)
	Prefix      string   // the event indices' prefix (TargetOpenSearch)
	Apps        []string // the reader's apps (TargetOpenSearch); nil: every app, as a token of *
	Users       int      // user ids user-0 … user-(Users-1) to pick from
	Query       string   // "events" (a user's first page) or "summary"
	Rate        float64
	Concurrency int           // workers and connections
	Duration    time.Duration // measured time
	Warmup      time.Duration // unmeasured time before it
	Timeout     time.Duration // per query
	Seed        uint64        // of the users picked: runs with the same seed ask for the same users in the same order
	Progress    io.Writer     // a line per second; nil for none
}

// Result is what a run measured.
type Result struct {
	Mode           string              `json:"mode"`
	Target         string              `json:"target"`
	Query          string              `json:"query"`
	Concurrency    int                 `json:"concurrency"`
	TargetRate     float64             `json:"target_requests_per_sec,omitempty"`
	Seconds        float64             `json:"seconds"`
	Requests       int64               `json:"requests"`
	RequestsPerSec float64             `json:"requests_per_sec"`
	Statuses       map[string]int      `json:"statuses"`
	TransportErrs  int64               `json:"transport_errors"`
	BuildErrs      int64               `json:"build_errors,omitempty"`
	EmptyResults   int64               `json:"empty_results"`
	LatencyMs      latency.Percentiles `json:"latency_ms"`
}

// Run queries cfg.BaseURL until the duration is over or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	build, err := builder(&cfg)
	if err != nil {
		return Result{}, err
	}
	if cfg.Users < 1 || cfg.Concurrency < 1 {
		return Result{}, fmt.Errorf("users %d, concurrency %d: want at least 1 of each", cfg.Users, cfg.Concurrency)
	}
	client := &fasthttp.Client{MaxConnsPerHost: cfg.Concurrency, ReadTimeout: cfg.Timeout, NoDefaultUserAgentHeader: true}
	res := Result{Mode: "closed-loop", Target: cfg.Target, Query: cfg.Query, Concurrency: cfg.Concurrency, TargetRate: cfg.Rate, Statuses: map[string]int{}}
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
		w := hist.Window()
		line := fmt.Sprintf("t=%3ds  queries/s=%6d  p99(this second)=%7.2fms  p99(so far)=%7.2fms", s, n-last, w.P99, hist.Percentiles().P99)
		last = n
		return line
	})
	defer stopProgress()
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11+cfg.Seed))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				// The request is built before its send time: only the
				// exchange is measured, on either target.
				req.Reset()
				if err := build(req, "user-"+strconv.Itoa(rng.IntN(cfg.Users))); err != nil {
					mu.Lock()
					res.BuildErrs++
					mu.Unlock()
					return
				}
				intended, ok := schedule.Next()
				if !ok {
					return
				}
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
					if empty(cfg.Target, resp.Body()) {
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
	if res.BuildErrs > 0 {
		return res, fmt.Errorf("%d workers could not build their request", res.BuildErrs)
	}
	return res, nil
}

// builder checks cfg's target and query and returns what fills a request
// for a user.
func builder(cfg *Config) (func(req *fasthttp.Request, user string) error, error) {
	if cfg.Query == "" {
		cfg.Query = "events"
	}
	if cfg.Query != "events" && cfg.Query != "summary" {
		return nil, fmt.Errorf("query %q: want events or summary", cfg.Query)
	}
	switch cfg.Target {
	case "", TargetQuery:
		cfg.Target = TargetQuery
		suffix := "/" + cfg.Query
		auth := "Bearer " + cfg.Token
		return func(req *fasthttp.Request, user string) error {
			req.SetRequestURI(cfg.BaseURL + "/v1/users/" + user + suffix)
			req.Header.Set("Authorization", auth)
			return nil
		}, nil
	case TargetOpenSearch:
		if cfg.Query != "events" {
			return nil, fmt.Errorf("query %q on target %s: only events (a first page) is sent raw", cfg.Query, cfg.Target)
		}
		if cfg.Prefix == "" {
			return nil, fmt.Errorf("target %s: want the indices' prefix", cfg.Target)
		}
		return func(req *fasthttp.Request, user string) error {
			r, err := storerequest.SearchEvents(cfg.Prefix, cfg.Apps, &queryv1.SearchEventsRequest{UserId: user})
			if err != nil {
				return err
			}
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI(cfg.BaseURL + r.Path)
			req.Header.SetContentType("application/json")
			req.SetBody(r.Body)
			return nil
		}, nil
	default:
		return nil, fmt.Errorf("target %q: want %s or %s", cfg.Target, TargetQuery, TargetOpenSearch)
	}
}

// empty tells an answer without events: a short page from the service, no
// hits from OpenSearch.
func empty(target string, body []byte) bool {
	if target == TargetOpenSearch {
		return bytes.Contains(body, []byte(`"hits":[]`))
	}
	return len(body) < 20
}
