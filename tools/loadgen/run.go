package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/evtrack/telemetry/tools/latency"
)

// Config is one load run.
type Config struct {
	URL         string // the /v1/track endpoint (/v1/batch for FormatSegment)
	WriteKey    string
	Concurrency int           // connections and workers
	Rate        float64       // requests per second; 0: closed loop, as fast as the workers go
	Duration    time.Duration // measured time
	Warmup      time.Duration // unmeasured time before it
	Gzip        bool
	Templates   int // distinct rendered batches to rotate through
	Traffic     Traffic
	Progress    io.Writer // a line per second; nil for none
	Timeout     time.Duration
	// OnAccepted, if set, is told of every 202 (200 on the Segment API; the end-to-end watcher).
	OnAccepted func(Accepted)
	// RetryRate is the share of accepted requests sent a second time,
	// unchanged, as an SDK does when a response is lost; the platform must
	// store them once.
	RetryRate float64
	// URLs, if set, replaces URL with several /v1/track endpoints (instances
	// behind a load balancer): requests go round them, and a request that
	// one does not answer is sent to the next.
	URLs []string
	// RetryFor, if set, makes the generator a client that retries as the
	// SDK does: a request answered 503 or 429, or not answered (a timeout,
	// a refused or cut connection), is sent again unchanged — the same
	// event ids — after the Retry-After it was given (RetryDelay if none),
	// until it is answered otherwise or RetryFor has passed since its first
	// send (then its last answer counts).
	RetryFor   time.Duration
	RetryDelay time.Duration // 0: 250 ms
}

// Result is what a run measured.
type Result struct {
	Mode          string         `json:"mode"`
	Concurrency   int            `json:"concurrency"`
	TargetRate    float64        `json:"target_requests_per_sec,omitempty"`
	BatchSize     int            `json:"batch_size"`
	Gzip          bool           `json:"gzip"`
	Seconds       float64        `json:"seconds"`
	Requests      int64          `json:"requests"`
	Statuses      map[string]int `json:"statuses"`
	TransportErrs int64          `json:"transport_errors"`
	Retries       int64          `json:"retried_requests"`
	// With RetryFor: sends beyond a request's first because it was answered
	// 503 or 429 or not answered, the Retry-After values seen (seconds →
	// count), and requests still unanswered or refused when RetryFor ran out.
	Resends        int64               `json:"resends,omitempty"`
	RetryAfter     map[string]int      `json:"retry_after_seconds,omitempty"`
	GaveUp         int64               `json:"gave_up,omitempty"`
	EventsSent     int64               `json:"events_sent"`
	EventsAccepted int64               `json:"events_accepted"`
	RequestsPerSec float64             `json:"requests_per_sec"`
	EventsPerSec   float64             `json:"accepted_events_per_sec"`
	BodyBytes      int                 `json:"body_bytes"`
	LatencyMs      latency.Percentiles `json:"latency_ms"`
}

// Accepted is one 202 answer: its batch held the event numbers FirstID to
// FirstID+Events-1 (see IDs), all accepted but those at the positions in
// Invalid.
type Accepted struct {
	FirstID  uint64
	Events   int
	Invalid  []int // positions in the batch of the events made invalid on purpose; shared, not to be modified
	Accepted int   // the count in the 202's body
	At       time.Time
}

// Background is a Run in a goroutine of its own.
type Background struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    Result
	err    error
}

// Start runs Run(ctx, cfg, ids) in a goroutine of its own.
func Start(ctx context.Context, cfg Config, ids *IDs) *Background {
	ctx, cancel := context.WithCancel(ctx)
	b := &Background{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.res, b.err = Run(ctx, cfg, ids)
	}()
	return b
}

// Wait waits for the run to end and returns what Run returned.
func (b *Background) Wait() (Result, error) {
	<-b.done
	return b.res, b.err
}

// Stop ends the run early, if it still runs, and waits for it to end.
func (b *Background) Stop() {
	b.cancel()
	<-b.done
}

// Run drives load at cfg.URL until the duration is over or ctx ends.
func Run(ctx context.Context, cfg Config, ids *IDs) (Result, error) {
	urls := cfg.URLs
	if len(urls) == 0 {
		urls = []string{cfg.URL}
	}
	clients := make([]*fasthttp.HostClient, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return Result{}, fmt.Errorf("url %q: %w", raw, err)
		}
		clients[i] = &fasthttp.HostClient{
			Addr: u.Host, MaxConns: cfg.Concurrency, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
			MaxIdleConnDuration: time.Minute, NoDefaultUserAgentHeader: true,
		}
	}
	retryDelay := cfg.RetryDelay
	if retryDelay == 0 {
		retryDelay = 250 * time.Millisecond
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tpls := make([]Template, max(cfg.Templates, 1))
	for i := range tpls {
		tpls[i] = cfg.Traffic.Render(rng, time.Now())
	}

	res := Result{Mode: "closed-loop", Concurrency: cfg.Concurrency, TargetRate: cfg.Rate, BatchSize: cfg.Traffic.BatchSize,
		Gzip: cfg.Gzip, Statuses: map[string]int{}, RetryAfter: map[string]int{}, BodyBytes: len(tpls[0].Body)}
	if cfg.Rate > 0 {
		res.Mode = "open-loop"
	}
	hist := latency.NewRecorder()
	var mu sync.Mutex // guards res
	var sent, accepted, requests atomic.Int64

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	parent := ctx // a request's retries may outlast the load's end
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	// Open loop: a scheduler emits intended send times; latency counts from
	// them, so a slow server cannot hide queueing (no coordinated omission).
	schedule := latency.NewSchedule(ctx, cfg.Rate, 1<<16)

	var lastReq, lastAcc int64
	stopProgress := latency.Progress(cfg.Progress, func(s int) string {
		r, a := requests.Load(), accepted.Load()
		w := hist.Window()
		line := fmt.Sprintf("t=%3ds  requests/s=%7d  accepted events/s=%9d  p99(this second)=%7.2fms  max(this second)=%7.2fms  p99(so far)=%7.2fms",
			s, r-lastReq, a-lastAcc, w.P99, w.Max, hist.Percentiles().P99)
		lastReq, lastAcc = r, a
		return line
	})
	defer stopProgress()

	// Stored is 202 on /v1/track and 200 on the Segment API, whose SDKs
	// send the key as a Basic user name.
	stored, auth := fasthttp.StatusAccepted, "Bearer "+cfg.WriteKey
	if cfg.Traffic.Format == FormatSegment {
		stored, auth = fasthttp.StatusOK, "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.WriteKey+":"))
	}
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			wrng := rand.New(rand.NewPCG(uint64(w), 7))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			var body []byte
			next := w % len(clients) // this worker's next endpoint
			for {
				intended, ok := schedule.Next()
				if !ok {
					return
				}
				tpl := tpls[wrng.IntN(len(tpls))]
				var first uint64
				body, first = ids.Fill(tpl, body)
				req.Reset()
				target := next
				next = (next + 1) % len(clients)
				req.SetRequestURI(urls[target])
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("application/json")
				req.Header.Set("Authorization", auth)
				if cfg.Gzip {
					req.Header.Set("Content-Encoding", "gzip")
					req.SetBodyRaw(Gzip(body))
				} else {
					req.SetBodyRaw(body)
				}
				err := clients[target].DoTimeout(req, resp, cfg.Timeout)
				for firstSent := time.Now(); cfg.RetryFor > 0 && retryable(err, resp); {
					delay := retryDelay
					if err != nil { // this endpoint did not answer: the next one
						target = (target + 1) % len(clients)
						req.SetRequestURI(urls[target])
					} else if ra := resp.Header.Peek("Retry-After"); len(ra) > 0 {
						if secs, perr := strconv.Atoi(string(ra)); perr == nil && secs >= 0 {
							delay = time.Duration(secs) * time.Second
						}
						mu.Lock()
						res.RetryAfter[string(ra)]++
						mu.Unlock()
					}
					if time.Since(firstSent)+delay > cfg.RetryFor || !sleepCtx(parent, delay) {
						mu.Lock()
						res.GaveUp++
						mu.Unlock()
						break
					}
					mu.Lock()
					res.Resends++
					if err != nil {
						res.Statuses["resent-after-no-answer"]++
					} else {
						res.Statuses["resent-after-"+strconv.Itoa(resp.StatusCode())]++
					}
					mu.Unlock()
					err = clients[target].DoTimeout(req, resp, cfg.Timeout)
				}
				done := time.Now()
				if err == nil && resp.StatusCode() == stored {
					if cfg.OnAccepted != nil {
						// Every 202 counts for end-to-end accounting, warm-up included.
						cfg.OnAccepted(Accepted{FirstID: first, Events: len(tpl.idAt), Invalid: tpl.invalidAt, Accepted: acceptedCount(resp.Body()), At: done})
					}
					if cfg.RetryRate > 0 && wrng.Float64() < cfg.RetryRate {
						// The same request again, as after a lost response.
						if clients[target].DoTimeout(req, resp, cfg.Timeout) == nil {
							mu.Lock()
							res.Retries++
							res.Statuses["retry-"+strconv.Itoa(resp.StatusCode())]++
							mu.Unlock()
						}
					}
				}
				if done.Before(measureFrom) || done.After(end) {
					continue
				}
				n := len(tpl.idAt)
				requests.Add(1)
				sent.Add(int64(n))
				mu.Lock()
				if err != nil {
					res.TransportErrs++
				} else {
					code := resp.StatusCode()
					res.Statuses[strconv.Itoa(code)]++
					if code == stored {
						accepted.Add(int64(acceptedCount(resp.Body())))
					}
				}
				mu.Unlock()
				hist.Record(done.Sub(intended))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	if elapsed > cfg.Duration {
		elapsed = cfg.Duration
	}
	res.Seconds = elapsed.Seconds()
	res.Requests = requests.Load()
	res.EventsSent = sent.Load()
	res.EventsAccepted = accepted.Load()
	res.RequestsPerSec = float64(res.Requests) / res.Seconds
	res.EventsPerSec = float64(res.EventsAccepted) / res.Seconds
	res.LatencyMs = hist.Percentiles()
	return res, nil
}

func acceptedCount(body []byte) int {
	i := bytes.Index(body, []byte(`"accepted":`))
	if i < 0 {
		return 0
	}
	rest := body[i+len(`"accepted":`):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(string(rest[:j]))
	return n
}

// retryable reports whether a client that retries sends the request again:
// no answer, or 503 or 429 (the events were not stored; Retry-After says
// when to come back).
func retryable(err error, resp *fasthttp.Response) bool {
	if err != nil {
		return true
	}
	code := resp.StatusCode()
	return code == fasthttp.StatusServiceUnavailable || code == fasthttp.StatusTooManyRequests
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
