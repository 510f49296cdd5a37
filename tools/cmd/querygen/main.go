// Command querygen sends support-style queries to the query service's HTTP
// face — a random user's first page of events, or their summary — at a fixed
// rate (latency from the intended send time) and reports percentiles.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8082", "query service HTTP base URL")
	token := flag.String("token", os.Getenv("QUERYGEN_TOKEN"), "read token (or QUERYGEN_TOKEN)")
	users := flag.Int("users", 100000, "user ids user-0 … user-(n-1) to pick from")
	rate := flag.Float64("rate", 50, "queries per second")
	workers := flag.Int("concurrency", 16, "workers")
	duration := flag.Duration("duration", 30*time.Second, "measured duration")
	warmup := flag.Duration("warmup", 5*time.Second, "unmeasured warm-up")
	kind := flag.String("query", "events", "events (first page) or summary")
	out := flag.String("json", "", "write the result as JSON here")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "querygen: -token is required")
		os.Exit(2)
	}
	client := &fasthttp.Client{MaxConnsPerHost: *workers, ReadTimeout: 10 * time.Second}
	hist := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	var mu sync.Mutex
	statuses := map[int]int{}
	var empty atomic.Int64
	start := time.Now()
	measureFrom, end := start.Add(*warmup), start.Add(*warmup+*duration)
	schedule := make(chan time.Time, 1<<14)
	go func() {
		defer close(schedule)
		interval := time.Duration(float64(time.Second) / *rate)
		for next := start; next.Before(end); next = next.Add(interval) {
			time.Sleep(time.Until(next))
			schedule <- next
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			for intended := range schedule {
				user := "user-" + strconv.Itoa(rng.IntN(*users))
				path := "/v1/users/" + user + "/events"
				if *kind == "summary" {
					path = "/v1/users/" + user + "/summary"
				}
				req.Reset()
				req.SetRequestURI(*base + path)
				req.Header.Set("Authorization", "Bearer "+*token)
				err := client.Do(req, res)
				done := time.Now()
				if intended.Before(measureFrom) {
					continue
				}
				code := 0
				if err == nil {
					code = res.StatusCode()
					if len(res.Body()) < 20 {
						empty.Add(1)
					}
				}
				mu.Lock()
				statuses[code]++
				_ = hist.RecordValue(max(done.Sub(intended).Microseconds(), 1))
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	ms := func(q float64) float64 { return float64(hist.ValueAtQuantile(q)) / 1000 }
	result := map[string]any{"query": *kind, "rate": *rate, "seconds": duration.Seconds(), "queries": hist.TotalCount(),
		"statuses": statuses, "empty_results": empty.Load(),
		"latency_ms": map[string]float64{"p50": ms(50), "p90": ms(90), "p99": ms(99), "p99.9": ms(99.9), "max": float64(hist.Max()) / 1000}}
	fmt.Printf("%s queries at %.0f/s for %s: %d (statuses %v, empty %d)\n", *kind, *rate, *duration, hist.TotalCount(), statuses, empty.Load())
	fmt.Printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", ms(50), ms(90), ms(99), ms(99.9), float64(hist.Max())/1000)
	if *out != "" {
		b, _ := json.MarshalIndent(result, "", "  ")
		_ = os.WriteFile(*out, b, 0o644)
	}
}
