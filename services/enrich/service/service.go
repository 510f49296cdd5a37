// Package service is the enrich service's composition root.
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/periodic"
	"github.com/evtrack/telemetry/platform/retry"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/compaction"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
	"github.com/evtrack/telemetry/services/enrich/internal/retention"
	"github.com/evtrack/telemetry/services/enrich/internal/templates"
)

// Service is a running enrich service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	cons    njs.Consumer
	osc     *opensearchgo.Client
	pipe    *pipeline.Pipeline
	metrics *metrics.Enrich
	http    *http.Server
	ln      net.Listener
	bots    *enrichment.Bots
	closers []func() error
	sup     *suppression.Set
	stopSup func(context.Context)
}

// New connects to NATS and OpenSearch, applies the index templates and the
// retention policy, and creates or updates the durable consumer. It waits
// (until ctx ends) for OpenSearch and for the stream, which ingest creates.
func New(ctx context.Context, cfg Config, log *slog.Logger, tel *otelx.Telemetry) (svc *Service, err error) {
	s := &Service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.osc, err = opensearchx.NewClient(opensearchx.Options{URL: cfg.OpenSearchURL, Username: cfg.OpenSearchUser,
		Password: cfg.OpenSearchPassword, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator})
	if err != nil {
		return nil, err
	}
	if err := retry.Until(ctx, log, "apply index templates", func() error {
		return templates.Apply(ctx, s.osc, cfg.Pipeline.IndexPrefix, cfg.IndexReplicas)
	}); err != nil {
		return nil, err
	}

	chainCfg := enrichment.ChainConfig{ClockSkew: cfg.ClockSkew, Geo: enrichment.GeoConfig{DBPath: cfg.GeoIPDB},
		Bots: cfg.Bots, ClientIP: cfg.ClientIP, Pseudonymise: cfg.Pseudonymise}
	if cfg.GeoIPDB == "" {
		log.WarnContext(ctx, "geo enrichment off: GEOIP_DB is not set")
	}
	chain, err := enrichment.NewChain(chainCfg)
	if errors.Is(err, enrichment.ErrGeoDatabase) { // go on without the geo step rather than not at all
		log.WarnContext(ctx, "geo enrichment off: the database cannot be opened", "error", err)
		chainCfg.Geo = enrichment.GeoConfig{}
		chain, err = enrichment.NewChain(chainCfg)
	}
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, chain.Close)
	s.bots = chain.Bots()
	if cfg.ClientIP.Mode == enrichment.IPNone {
		log.WarnContext(ctx, "client addresses are stored in full (ENRICH_IP_ANONYMISATION=none): personal data in every event document")
	}
	log.InfoContext(ctx, "privacy", "client_ip", string(cfg.ClientIP.Mode), "pseudonymised_fields", strings.Join(cfg.Pseudonymise.Fields, ","),
		"bot_list", cmp.Or(cfg.Bots.ListFile, "built-in"), "bot_list_entries", s.bots.List().Len())

	s.nc, err = natsx.Connect(ctx, cfg.NATSURL, "enrich", log, nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, err
	}
	js, err := njs.New(s.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	if err := retry.Until(ctx, log, "create consumer", func() error {
		s.cons, err = js.CreateOrUpdateConsumer(ctx, cfg.Stream, njs.ConsumerConfig{
			Durable:       cfg.Consumer,
			Description:   "enrich: index event batches into OpenSearch",
			FilterSubject: cfg.SubjectPrefix + ".>",
			DeliverPolicy: njs.DeliverAllPolicy,
			AckPolicy:     njs.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxAckPending: cfg.MaxAckPending,
			// Unbounded here: the pipeline counts the deliveries a message
			// spends on failures of its own and dead-letters it on
			// ENRICH_MAX_DELIVER. A server-side bound would drop a message
			// whose last delivery is lost (a crash, a NATS blip) without a
			// trace, and would count deliveries spent waiting for OpenSearch.
			MaxDeliver: -1,
		})
		if err != nil {
			return fmt.Errorf("consumer %s on stream %s: %w", cfg.Consumer, cfg.Stream, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := checkFetchMaxBytes(ctx, js, s.nc.MaxPayload(), cfg); err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	s.metrics = metrics.New(reg)
	checker := health.NewChecker(2 * time.Second)
	checker.Add("nats", natsx.Ready(s.nc))
	checker.Add("opensearch", opensearchx.Healthy(s.osc, eventdoc.Pattern(cfg.Pipeline.IndexPrefix)))
	mux := http.NewServeMux()
	checker.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.ln, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	s.http = health.NewServer(mux, health.DefaultServerTimeouts)
	builder := document.NewBuilder(cfg.Pipeline.IndexPrefix, chain,
		document.Placement{MaxAge: cfg.ClockSkew.MaxAge, MaxFuture: cfg.ClockSkew.MaxFuture}).WithTextCopies(cfg.MetadataFullText)
	s.pipe = pipeline.New(s.cons, bulk.NewIndexer(s.osc), builder, cfg.Pipeline, log, s.metrics, tel.TracerProvider, tel.Propagator)
	// The suppression list is loaded before anything is fetched, so no
	// event of a person deleted earlier is written again.
	if err := retry.Until(ctx, log, "load the suppression list", func() error {
		b, err := suppression.Open(ctx, js, cfg.SuppressionBucket, cfg.SuppressionReplicas)
		if err != nil {
			return err
		}
		s.sup, s.stopSup, err = suppression.Watch(ctx, b, suppression.SetConfig{Heartbeat: time.Second, Lease: cfg.SuppressionLease,
			WriteBound: suppressionWriteBound(cfg.Pipeline)}, log)
		return err
	}); err != nil {
		return nil, err
	}
	s.pipe.Suppress(s.sup)
	return s, nil
}

// Addr is the address of the health and metrics endpoints.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Run indexes until ctx is cancelled, then finishes the batches in hand, acks
// them, and drains the NATS connection.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "enrich running", "addr", s.Addr(), "stream", s.cfg.Stream, "consumer", s.cfg.Consumer,
		"index_prefix", s.cfg.Pipeline.IndexPrefix, "workers", s.cfg.Pipeline.Workers)
	httpErr := make(chan error, 1)
	go func() { httpErr <- s.http.Serve(s.ln) }()
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); periodic.Run(bg, 5*time.Second, s.watchConsumer) }()
	wg.Add(1)
	go func() { defer wg.Done(); periodic.Run(bg, time.Hour, s.maintainIndices) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.sup.Run(bg) }()
	if s.cfg.Bots.ListFile != "" {
		// SIGHUP rereads the bot list (and no longer ends the process).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		wg.Add(1)
		go func() { defer wg.Done(); s.bots.Watch(bg, s.cfg.BotListReload, hup, s.log) }()
	}

	err := s.pipe.Run(ctx)
	stopBG()
	wg.Wait()
	sctxSup, cancelSup := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	s.stopSup(sctxSup) // after the pipeline: nothing is in hand any more
	cancelSup()
	s.log.InfoContext(ctx, "enrich shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if herr := s.http.Shutdown(sctx); herr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", herr))
	}
	if herr := <-httpErr; herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("http server: %w", herr))
	}
	natsx.Close(ctx, s.nc, s.log)
	s.close()
	s.log.InfoContext(ctx, "enrich stopped")
	return err
}

func (s *Service) close() {
	for _, c := range s.closers {
		_ = c()
	}
	s.closers = nil
	if s.nc != nil && !s.nc.IsClosed() {
		s.nc.Close()
	}
}

// watchConsumer publishes the consumer's lag as metrics (every 5 s).
func (s *Service) watchConsumer(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	info, err := s.cons.Info(ictx)
	cancel()
	if err == nil {
		s.metrics.Pending.Set(float64(info.NumPending))
		s.metrics.AckPending.Set(float64(info.NumAckPending))
		s.metrics.Redelivered.Set(float64(info.NumRedelivered))
	}
}

// maintainIndices looks after the daily indices at start and then hourly:
// it deletes the event and dead-letter indices whose day, by their name, is
// past its retention, and merges the indices of days that are over into
// one segment each (see compaction.MergeClosedDays).
func (s *Service) maintainIndices(ctx context.Context) {
	prefix := s.cfg.Pipeline.IndexPrefix
	policy := retention.Policy{Events: s.cfg.Retention, DeadLetters: s.cfg.DeadLetterRetention}
	deleted, err := retention.DeleteExpired(ctx, s.osc, prefix, policy, time.Now())
	s.metrics.Indices.WithLabelValues("deleted").Add(float64(len(deleted)))
	if len(deleted) > 0 {
		s.log.InfoContext(ctx, "deleted expired indices", "indices", deleted, "retention", s.cfg.Retention,
			"dead_letter_retention", s.cfg.DeadLetterRetention)
	}
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "deleting expired indices failed", "error", err)
	}
	if s.cfg.CompactAfter > 0 {
		merged, err := compaction.MergeClosedDays(ctx, s.osc, prefix, s.cfg.CompactAfter, time.Now())
		s.metrics.Indices.WithLabelValues("compacted").Add(float64(len(merged)))
		if len(merged) > 0 {
			s.log.InfoContext(ctx, "merged the indices of past days into one segment", "indices", merged)
		}
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "compacting past days' indices failed", "error", err)
		}
	}
}

// fetchOverhead is what JetStream counts against a fetch's byte bound
// beyond a message's headers and payload: its subject and reply subject.
const fetchOverhead = 8 << 10

// checkFetchMaxBytes refuses a fetch bound smaller than the largest message
// the stream can hold (the server's max_payload, or the stream's
// max_msg_size if smaller). JetStream never delivers a message larger than
// a fetch's bound — it ends the fetch with "409 Message Size Exceeds
// MaxBytes" — so such a message would stop the consumer for good.
func checkFetchMaxBytes(ctx context.Context, js njs.JetStream, maxPayload int64, cfg Config) error {
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	largest := maxPayload
	if m := int64(stream.CachedInfo().Config.MaxMsgSize); m > 0 && m < largest {
		largest = m
	}
	if need := largest + fetchOverhead; int64(cfg.Pipeline.FetchMaxBytes) < need {
		return fmt.Errorf("ENRICH_FETCH_MAX_BYTES (%d) is below the largest message stream %s can hold (%d bytes) plus %d: "+
			"such a message would never be delivered; raise it to at least %d", cfg.Pipeline.FetchMaxBytes, cfg.Stream, largest, fetchOverhead, need)
	}
	return nil
}
