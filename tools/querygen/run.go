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
	res, err := run(ctx, cfg, []Config{cfg})
	return res[0], err
}

// Compare sends one load to two targets, each worker's queries going to a
// and b in turn, so that both sides are measured at the same moments of the
// machine: the ratio of their latencies is not moved by what else the
// machine did while one side ran and not the other. a gives the load (its
// rate is the two sides' sum, its users, query, concurrency, duration and
// seed); b gives only its target (Target, BaseURL, Token, Prefix, Apps).
func Compare(ctx context.Context, a, b Config) (Result, Result, error) {
	b.Query = a.Query // the same query on both sides; run takes the rest of the load from a
	res, err := run(ctx, a, []Config{a, b})
	return res[0], res[1], err
}

// side is one target of a run: what builds its requests and what it measured.
type side struct {
	build func(req *fasthttp.Request, user string) error
	hist  *latency.Recorder
	mu    sync.Mutex // guards res
	res   Result
}

// run sends load's queries to the targets in turn.
func run(ctx context.Context, load Config, targets []Config) ([]Result, error) {
	if load.Users < 1 || load.Concurrency < 1 {
		return make([]Result, len(targets)), fmt.Errorf("users %d, concurrency %d: want at least 1 of each", load.Users, load.Concurrency)
	}
	mode := "closed-loop"
	if load.Rate > 0 {
		mode = "open-loop"
	}
	sides := make([]*side, len(targets))
	for i := range targets {
		build, err := builder(&targets[i])
		if err != nil {
			return make([]Result, len(targets)), err
		}
		t := targets[i]
		sides[i] = &side{build: build, hist: latency.NewRecorder(), res: Result{Mode: mode, Target: t.Target, Query: t.Query,
			Concurrency: load.Concurrency, TargetRate: load.Rate / float64(len(targets)), Statuses: map[string]int{}}}
	}
	client := &fasthttp.Client{MaxConnsPerHost: load.Concurrency, ReadTimeout: load.Timeout, NoDefaultUserAgentHeader: true}
	start := time.Now()
	measureFrom := start.Add(load.Warmup)
	end := measureFrom.Add(load.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	schedule := latency.NewSchedule(ctx, load.Rate, 1<<14)
	var done atomic.Int64
	var last int64
	stopProgress := latency.Progress(load.Progress, func(s int) string {
		n := done.Load()
		line := fmt.Sprintf("t=%3ds  queries/s=%6d", s, n-last)
		for _, sd := range sides {
			line += fmt.Sprintf("  %s p99(this second)=%7.2fms  p99(so far)=%7.2fms", sd.res.Target, sd.hist.Window().P99, sd.hist.Percentiles().P99)
		}
		last = n
		return line
	})
	defer stopProgress()
	var buildErrs atomic.Int64
	var wg sync.WaitGroup
	for w := range load.Concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11+load.Seed))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := w; ; i++ {
				sd := sides[i%len(sides)]
				// The request is built before its send time: only the
				// exchange is measured, on either target.
				req.Reset()
				if err := sd.build(req, "user-"+strconv.Itoa(rng.IntN(load.Users))); err != nil {
					buildErrs.Add(1)
					return
				}
				intended, ok := schedule.Next()
				if !ok {
					return
				}
				err := client.DoTimeout(req, resp, load.Timeout)
				finished := time.Now()
				if intended.Before(measureFrom) || finished.After(end) {
					continue
				}
				done.Add(1)
				sd.hist.Record(finished.Sub(intended))
				sd.mu.Lock()
				sd.res.Requests++
				if err != nil {
					sd.res.TransportErrs++
				} else {
					sd.res.Statuses[strconv.Itoa(resp.StatusCode())]++
					if empty(sd.res.Target, resp.Body()) {
						sd.res.EmptyResults++
					}
				}
				sd.mu.Unlock()
			}
		})
	}
	wg.Wait()
	seconds := min(max(time.Since(measureFrom), 0), load.Duration).Seconds()
	out := make([]Result, len(sides))
	for i, sd := range sides {
		r := sd.res
		r.Seconds = seconds
		if seconds > 0 {
			r.RequestsPerSec = float64(r.Requests) / seconds
		}
		r.LatencyMs = sd.hist.Percentiles()
		r.BuildErrs = buildErrs.Load()
		out[i] = r
	}
	if n := buildErrs.Load(); n > 0 {
		return out, fmt.Errorf("%d workers could not build their request", n)
	}
	return out, nil
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
