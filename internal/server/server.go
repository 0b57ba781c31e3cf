// Package server assembles the Sinergi gRPC server: mutual TLS, the
// interceptor chain, the services, health and reflection, metrics, and the
// background work each process does (directory cache, audit sequencer,
// audit partition upkeep and retention). It owns start-up and graceful
// shutdown.
//
// The interceptor chain, outermost first, and why in this order:
//
//  1. recovery        a panic anywhere below becomes INTERNAL, never a crash
//  2. request id      every log line and audit record names the call
//  3. logging         slog JSON, one line per call; never payloads (personal data)
//  4. metrics         Prometheus counters and latency histograms
//  5. audit           opens the call's audit record and commits it before the
//     reply leaves; outside authentication so that refused
//     and unauthenticated calls are recorded too (openfga puts
//     audit last; we need it to see every refusal)
//  6. authentication  the institution from the mTLS certificate's SPIFFE ID
//     (the handshake already checked the certificate as an X.509-SVID:
//     authn.ServerCredentials, pki.ServerTLS)
//  7. undecodable     a request message that did not decode (protobuf, or
//     the HTTP/JSON listener's JSON) is refused, INVALID_ARGUMENT, and so
//     recorded with its caller (codec.go)
//  8. authorization   policy table, request validation, AccessContext, reach;
//     every stream runs under its recheck (authz/recheck.go)
//  9. recovery        again, inside audit, so a handler panic is recorded as INTERNAL
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/sinergi-id/sinergi/internal/api"
	"github.com/sinergi-id/sinergi/internal/audit"
	"github.com/sinergi-id/sinergi/internal/authn"
	"github.com/sinergi-id/sinergi/internal/authz"
	"github.com/sinergi-id/sinergi/internal/directory"
	"github.com/sinergi-id/sinergi/internal/fanout"
	"github.com/sinergi-id/sinergi/internal/pagetoken"
	"github.com/sinergi-id/sinergi/internal/pki"
	"github.com/sinergi-id/sinergi/internal/requestid"
	"github.com/sinergi-id/sinergi/internal/screening"
	"github.com/sinergi-id/sinergi/internal/store"
	sinergiv1 "github.com/sinergi-id/sinergi/proto/sinergi/v1"
)

// Config is everything a server process needs.
type Config struct {
	// Addr is the gRPC listen address (127.0.0.1:0 picks a port).
	Addr string
	// MetricsAddr serves /metrics; empty disables it.
	MetricsAddr string
	// HTTPAddr serves the same methods over HTTP/JSON (the Connect
	// protocol) and gRPC-Web, under the same mutual TLS, on a listener of
	// its own (http.go); empty disables it.
	HTTPAddr string
	// DatabaseURL logs in as the server's role (sinergi_app);
	// IntegratorDatabaseURL as the audit integrator's (sinergi_integrator).
	// Without the latter the process serves but does not integrate the
	// audit log: another process on the same database must.
	DatabaseURL           string
	IntegratorDatabaseURL string
	TLS                   pki.Files
	TrustDomain           string
	// ClientIntermediates names a PEM file of intermediate CAs allowed
	// between a client certificate and a root of TLS.CA; empty: none.
	ClientIntermediates string
	// AuditKeyPath is the Ed25519 key that signs audit checkpoints (and
	// from which the records' MAC key is derived).
	AuditKeyPath string
	// AuditOrigin names the audit log in its checkpoints; default
	// "<trust domain>/audit".
	AuditOrigin string
	// Retention is how long audit records are kept (at least a year).
	Retention time.Duration
	// ShutdownGrace is how long in-flight calls get on SIGTERM.
	ShutdownGrace time.Duration
	MaxConns      int32
	Log           *slog.Logger
	// Now is the clock of agreements and deadlines (tests inject one).
	Now func() time.Time
	// AuditInterval is how often the audit integrator appends what has
	// been written to the log and signs a checkpoint (default 100 ms).
	AuditInterval time.Duration
	// Pprof serves /debug/pprof on the metrics listener (for profiling; off by default).
	Pprof bool
	// HandshakeAuditWindow is how long refused TLS handshakes from one
	// address for one reason are counted into one audit record after the
	// first (default a minute).
	HandshakeAuditWindow time.Duration
	// StreamBudgetBytes is how many bytes all long-lived streams together
	// may hold for consumers that do not read, beyond a small allowance
	// each (default 32 MiB); StreamsPerInstitution caps one institution's
	// open streams (default 100).
	StreamBudgetBytes     int64
	StreamsPerInstitution int
	// AuditTimeout bounds the write of one batch of audit records; a call
	// whose record is not committed by then fails closed (UNAVAILABLE).
	AuditTimeout time.Duration
	// ScreeningLimit bounds each facility's screenings in this process
	// (zero fields: screening.DefaultLimit's).
	ScreeningLimit screening.Limit
}

// Server is one running process.
type Server struct {
	cfg        Config
	Store      *store.Store
	Directory  *directory.Cache
	GRPC       *grpc.Server
	Health     *health.Server
	Integrator *audit.Integrator
	Writer     *audit.Writer
	// AuditLog serves checkpoints and proofs.
	AuditLog *audit.Log
	Deps     *api.Deps
	// Hub wakes stream handlers when rows they deliver are committed by any process.
	Hub *fanout.Hub
	// Handshakes counts and audits refused TLS handshakes.
	Handshakes *authn.HandshakeRefusals
	// Sightings records the client certificates seen in use.
	Sightings  *authn.Sightings
	authorizer *authz.Authorizer
	lis        net.Listener
	tlsConfig  *tls.Config
	http       *http.Server
	httpLn     *authn.TLSListener
	metrics    *http.Server
	metricsLn  net.Listener
	// calls counts the calls in the server's handlers and interceptors.
	calls    inflight
	stopOnce sync.Once
	bg       context.CancelFunc
	bgDone   chan struct{}
	// workers are background loops the data services add (e.g. escalation).
	workers []func(context.Context)
	// registry is /metrics', for the data services' own metrics.
	registry *prometheus.Registry
}

// OpenStreams is how many calls of a streaming method are open.
func (s *Server) OpenStreams(method string) int64 { return s.authorizer.OpenStreams(method) }

// StartedStreams is how many calls of a streaming method have started.
func (s *Server) StartedStreams(method string) int64 { return s.authorizer.StartedStreams(method) }

// AddWorker runs w in the background from Start until Stop.
func (s *Server) AddWorker(w func(context.Context)) { s.workers = append(s.workers, w) }

// Config is the configuration the server runs with.
func (s *Server) Config() Config { return s.cfg }

// New connects to the database, loads the directory and builds the server.
// It does not listen until Serve.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TrustDomain == "" {
		cfg.TrustDomain = pki.DefaultTrustDomain
	}
	if cfg.Retention == 0 {
		cfg.Retention = 2 * 365 * 24 * time.Hour
	}
	if cfg.Retention < audit.MinRetention {
		return nil, fmt.Errorf("audit retention %s is below the minimum of one year", cfg.Retention)
	}
	if cfg.StreamBudgetBytes == 0 {
		cfg.StreamBudgetBytes = DefaultStreamBudget
	}
	if cfg.StreamsPerInstitution == 0 {
		cfg.StreamsPerInstitution = DefaultStreamsPerInstitution
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 15 * time.Second
	}
	if cfg.AuditOrigin == "" {
		cfg.AuditOrigin = audit.DefaultOrigin(cfg.TrustDomain)
	}
	key, err := audit.LoadKey(cfg.AuditKeyPath)
	if err != nil {
		return nil, err
	}
	keys, err := audit.NewKeys(key, cfg.AuditOrigin)
	if err != nil {
		return nil, fmt.Errorf("audit log keys: %w", err)
	}
	tlsCfg, err := pki.ServerTLS(cfg.TLS, pki.ClientPolicy{TrustDomain: cfg.TrustDomain, Intermediates: cfg.ClientIntermediates})
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: cfg.MaxConns, IntegratorURL: cfg.IntegratorDatabaseURL})
	if err != nil {
		return nil, err
	}
	if err := st.CheckLeastPrivilege(ctx); err != nil {
		st.Close()
		return nil, err
	}
	dir, err := directory.NewCache(ctx, st)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("load directory (did you run `sinergi migrate`?): %w", err)
	}
	s := &Server{cfg: cfg, Store: st, Directory: dir, tlsConfig: tlsCfg}
	// Partitions for this month and the next must exist before the first
	// call is audited; the integrator's daily upkeep keeps them coming.
	if cfg.IntegratorDatabaseURL != "" {
		// Beside another process doing the same, it waits its turn in the
		// database (migration 00075).
		if err := st.AsIntegrator(ctx, func(ctx context.Context, db store.DB) error {
			return store.EnsureAuditPartitions(ctx, db, time.Now().AddDate(0, -1, 0), 15)
		}); err != nil {
			st.Close()
			return nil, fmt.Errorf("audit partitions: %w", err)
		}
	}
	s.Hub = fanout.New(st.Pool.Config().ConnConfig, cfg.Log, fanoutChannels...)
	sealer := audit.NewSealer(keys, st)
	s.Writer = audit.NewWriter(st, sealer, audit.Flushers, 512, 4096)
	if cfg.AuditTimeout > 0 {
		s.Writer.Timeout = cfg.AuditTimeout
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)
	auditMetrics := audit.NewMetrics(reg)
	s.registry = reg
	reg.MustRegister(st.Collector())
	s.Writer.Instrument(reg)

	// The integrator is not woken per commit: the log is not on the reply
	// path, and waking it thousands of times a second costs the calls CPU.
	// It passes every Interval and catches up in batches.
	if cfg.IntegratorDatabaseURL != "" {
		s.Integrator = audit.NewIntegrator(st, keys, cfg.Log, auditMetrics)
		if cfg.AuditInterval > 0 {
			s.Integrator.Interval = cfg.AuditInterval
		}
		s.Integrator.Maintenance = s.maintain
	} else {
		cfg.Log.Warn("no integrator database url: this process does not integrate the audit log")
	}
	s.AuditLog = audit.NewLog(st, keys)

	s.Deps = &api.Deps{Store: st, Directory: dir, Tokens: pagetoken.New(keys.TokenKey("sinergi page tokens/")), Now: cfg.Now,
		Log: cfg.Log, Hub: s.Hub, AuditLog: s.AuditLog,
		Streams: api.NewStreams(cfg.StreamBudgetBytes, cfg.StreamsPerInstitution, reg), Metrics: api.NewMetrics(reg)}

	recorder := &audit.Recorder{Writer: s.Writer, Log: cfg.Log, Unrecorded: func(m string) bool {
		return strings.HasPrefix(m, "/"+healthpb.Health_ServiceDesc.ServiceName+"/")
	}}
	s.Handshakes = authn.NewHandshakeRefusals(recorder, cfg.Log, reg)
	if cfg.HandshakeAuditWindow > 0 {
		s.Handshakes.Window = cfg.HandshakeAuditWindow
	}
	creds, err := authn.ServerCredentials(tlsCfg, cfg.TrustDomain, s.Handshakes)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.Sightings = authn.NewSightings(st, cfg.Log)
	reg.MustRegister(s.Sightings)
	s.AddWorker(s.Handshakes.Run)
	s.AddWorker(s.Sightings.Run)
	authenticator := &authn.Authenticator{Directory: dir, Public: authz.IsPublic, Log: cfg.Log, Sightings: s.Sightings}
	s.authorizer = &authz.Authorizer{Now: cfg.Now, Served: func(m string) bool { return s.served(m) }, Directory: dir,
		Streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sinergi_open_streams",
			Help: "Streaming calls open, by method, each under its recheck."}, []string{"method"})}
	reg.MustRegister(s.authorizer.Streams)
	authorizer := s.authorizer
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		cfg.Log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		// A successful call is already in the audit trail, durably and with
		// who, why and what; its log line is only wanted while debugging.
		// Formatting and writing one per call cost a busy server about a
		// tenth of its CPU. Failures stay at their usual levels.
		logging.WithLevels(func(code codes.Code) logging.Level {
			// A call the client cancelled itself (clientGone) did not fail.
			if code == codes.OK || code == codes.Canceled {
				return logging.LevelDebug
			}
			return logging.DefaultServerCodeToLevel(code)
		}),
		logging.WithFieldsFromContext(callFields),
	}
	unaryLog := logging.UnaryServerInterceptor(logger, logOpts...)
	if !cfg.Log.Enabled(ctx, slog.LevelDebug) {
		unaryLog = failedUnaryCalls(logger)
	}
	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	panicked := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		cfg.Log.ErrorContext(ctx, "panic in call", "request_id", requestid.FromContext(ctx), "panic", fmt.Sprint(p))
		return status.Error(codes.Internal, "internal error")
	})

	s.GRPC = grpc.NewServer(
		grpc.Creds(creds),
		// A request message that does not decode is the caller's mistake,
		// answered INVALID_ARGUMENT and recorded (see codec.go); one too
		// large to receive, RESOURCE_EXHAUSTED, is recorded by the stats
		// handler; an unknown method, UNIMPLEMENTED, goes through the
		// interceptors like any call.
		grpc.ForceServerCodecV2(lenientCodec{}),
		grpc.StatsHandler(recorder.StatsHandler()),
		grpc.UnknownServiceHandler(unknownMethod),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(16<<20),
		// Calls run on long-lived workers rather than a new goroutine each.
		// A new goroutine starts on a small stack and grows it, copy by
		// copy, through the interceptor chain and the handler: pprof put
		// that at a noticeable share of a busy server's CPU. A worker keeps
		// its grown stack (docs/performance.md). A watch stream holds its
		// worker while it is open; beyond
		// streamWorkers calls at once, gRPC starts goroutines as before.
		grpc.NumStreamWorkers(streamWorkers),
		grpc.ChainUnaryInterceptor(
			s.calls.unary,
			recovery.UnaryServerInterceptor(panicked),
			requestid.UnaryServerInterceptor(),
			selector.UnaryServerInterceptor(unaryLog, notHealth),
			metrics.UnaryServerInterceptor(),
			recorder.UnaryServerInterceptor(),
			authenticator.UnaryServerInterceptor(),
			undecodableUnary,
			authorizer.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(panicked),
		),
		grpc.ChainStreamInterceptor(
			s.calls.stream,
			recovery.StreamServerInterceptor(panicked),
			requestid.StreamServerInterceptor(),
			selector.StreamServerInterceptor(clientGone(logging.StreamServerInterceptor(logger, logOpts...)), notHealth),
			metrics.StreamServerInterceptor(),
			recorder.StreamServerInterceptor(),
			authenticator.StreamServerInterceptor(),
			undecodableStream,
			authorizer.StreamServerInterceptor(),
			streamCap(s.Deps.Streams),
			recovery.StreamServerInterceptor(panicked),
		),
	)
	sinergiv1.RegisterInstitutionServiceServer(s.GRPC, &api.Institutions{Deps: s.Deps})
	sinergiv1.RegisterAgreementServiceServer(s.GRPC, &api.Agreements{Deps: s.Deps})
	sinergiv1.RegisterAuditServiceServer(s.GRPC, &api.Audit{Deps: s.Deps})
	registerDataServices(s)
	s.Health = health.NewServer()
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	reflection.Register(s.GRPC)
	metrics.InitializeMetrics(s.GRPC)
	if cfg.HTTPAddr != "" {
		h, err := s.newHTTPHandler()
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("http/json endpoint: %w", err)
		}
		s.http = newHTTPServer(h)
	}

	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		if cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	return s, nil
}

// served reports whether the server serves method (full name).
func (s *Server) served(method string) bool {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return false
	}
	info, ok := s.GRPC.GetServiceInfo()[svc]
	if !ok {
		return false
	}
	for _, m := range info.Methods {
		if m.Name == name {
			return true
		}
	}
	return false
}

// streamWorkers is how many calls run on reused goroutines at once; more
// than this at once still run, each on a goroutine of its own.
const streamWorkers = 128

// Listen binds the gRPC (and HTTP/JSON, metrics) listeners; Serve calls it when needed.
func (s *Server) Listen() error {
	if s.lis != nil {
		return nil
	}
	lis, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	if s.metrics != nil {
		ml, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			lis.Close()
			return fmt.Errorf("metrics listen on %s: %w", s.cfg.MetricsAddr, err)
		}
		s.metricsLn = ml
	}
	if err := s.listenHTTP(); err != nil {
		lis.Close()
		if s.metricsLn != nil {
			s.metricsLn.Close()
		}
		return err
	}
	s.lis = lis
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// MetricsAddr is the metrics listener's address, or "".
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// Start listens and serves in the background; Stop ends it.
func (s *Server) Start() error {
	if err := s.Listen(); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.bg = cancel
	s.bgDone = make(chan struct{})
	go func() {
		defer close(s.bgDone)
		workers := append([]func(context.Context){
			func(ctx context.Context) { s.Directory.Follow(ctx, 30*time.Second, s.cfg.Log) },
			s.watchHealth,
			s.Hub.Run,
		}, s.workers...)
		if s.Integrator != nil {
			workers = append(workers, s.Integrator.Run)
		}
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() { defer wg.Done(); w(bg) }()
		}
		wg.Wait()
	}()
	if s.metrics != nil {
		go func() { _ = s.metrics.Serve(s.metricsLn) }()
	}
	if s.http != nil {
		go func() {
			if err := s.http.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.cfg.Log.Error("http serve", "error", err)
			}
		}()
	}
	go func() {
		if err := s.GRPC.Serve(s.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.cfg.Log.Error("grpc serve", "error", err)
		}
	}()
	return nil
}

// Stop shuts the server down: health answers NOT_SERVING, every
// long-lived stream ends at once with UNAVAILABLE and the cursor to resume
// from, calls in flight get up to the shutdown grace to finish, and only
// once every call (and its audit record) has finished does the audit
// writer close. Connections still open then are closed: a stream whose
// consumer stopped reading cannot be told more.
func (s *Server) Stop() { s.stopOnce.Do(s.stop) }

func (s *Server) stop() {
	s.Health.Shutdown()
	s.Deps.Streams.Drain()
	done := make(chan struct{})
	httpCtx, httpCancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer httpCancel()
	go func() {
		// HTTP/JSON calls first: GracefulStop would cut those in flight
		// (grpc-go drains a ServeHTTP call by closing it).
		s.shutdownHTTP(httpCtx)
		s.GRPC.GracefulStop()
		close(done)
	}()
	idle := s.calls.idle()
	select {
	case <-done:
	case <-idle:
		// Every handler has returned; the statuses of the streams it ended
		// are on their way to the clients still reading.
		select {
		case <-done:
		case <-time.After(trailerFlush):
		}
	case <-time.After(s.cfg.ShutdownGrace):
		s.cfg.Log.Warn("shutdown grace over: closing remaining calls")
	}
	s.GRPC.Stop()
	if s.http != nil {
		_ = s.http.Close()
	}
	// A call cut by Stop still writes its record on the way out.
	select {
	case <-s.calls.idle():
	case <-time.After(5 * time.Second):
		s.cfg.Log.Error("calls still running after the server stopped: their audit records may be missing")
	}
	if s.metrics != nil {
		_ = s.metrics.Close()
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.Handshakes.Flush(fctx)
	cancel()
	s.Writer.Close()
	if s.bg != nil {
		s.bg()
		<-s.bgDone
	}
	s.Store.Close()
}

// trailerFlush is how long Stop lets the statuses of ended streams reach
// their clients once every handler has returned.
const trailerFlush = 250 * time.Millisecond

// Serve runs until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	s.Stop()
	return nil
}

// watchHealth reports SERVING only while the database answers.
func (s *Server) watchHealth(ctx context.Context) {
	set := func(ok bool) {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if ok {
			st = healthpb.HealthCheckResponse_SERVING
		}
		s.Health.SetServingStatus("", st)
		for name := range s.GRPC.GetServiceInfo() {
			s.Health.SetServingStatus(name, st)
		}
	}
	set(s.Store.Ping(ctx) == nil)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set(s.Store.Ping(ctx) == nil)
		}
	}
}

// maintain runs on the audit integrator's leader, so in one process at a
// time and on its connection: it creates the coming months' audit
// partitions and drops those past retention.
func (s *Server) maintain(ctx context.Context, db store.DB) error {
	now := time.Now()
	if err := store.EnsureAuditPartitions(ctx, db, now.AddDate(0, -1, 0), 15); err != nil {
		return fmt.Errorf("audit partitions: %w", err)
	}
	dropped, err := audit.Retain(ctx, db, s.cfg.Retention, now)
	for _, m := range dropped {
		s.cfg.Log.Info("audit retention dropped a month", "month", m.Format("2006-01"))
	}
	return err
}
