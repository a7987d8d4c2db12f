package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lstmq/lstmq"
)

// Config holds the server's limits and timeouts. Start from
// DefaultConfig: New takes every field as it is.
type Config struct {
	MaxBatch     int           // rows (sentences, contexts) per batched forward; 1 turns batching off
	BatchDelay   time.Duration // longest a request waits for others to fill its batch
	MaxQueue     int           // requests waiting for or running model work, per model; past it 429
	MaxBody      int64         // bytes of a request body; past it 413
	MaxSentences int           // sentences of one /v1/score request; past it 413
	MaxWords     int           // words of one request (all its texts, or generate's "words"); past it 413
	MaxK         int           // candidates one request may ask for; past it 413

	SessionIdle time.Duration // a session unused this long is closed
	MaxSessions int           // open sessions; past it 429

	RequestTimeout    time.Duration // a request's whole life; past it 504 (or an error line mid-stream)
	ReadHeaderTimeout time.Duration // http.Server.ReadHeaderTimeout: slow-header clients
	ReadTimeout       time.Duration // http.Server.ReadTimeout: slow-body clients
	IdleTimeout       time.Duration // http.Server.IdleTimeout: idle keep-alive connections
	ShutdownTimeout   time.Duration // how long Serve waits for in-flight requests once its context ends

	APIKey string // if set, /v1 routes need "Authorization: Bearer APIKey"

	Logger   *slog.Logger         // one line per request; nil: discard
	Registry *prometheus.Registry // the metrics' registry, served at /metrics; nil: a new one
}

// DefaultConfig returns the limits `lstmq serve` starts with.
func DefaultConfig() Config {
	return Config{
		MaxBatch:          16,
		BatchDelay:        2 * time.Millisecond,
		MaxQueue:          256,
		MaxBody:           1 << 20,
		MaxSentences:      256,
		MaxWords:          lstmq.DefaultMaxWords,
		MaxK:              1000,
		SessionIdle:       5 * time.Minute,
		MaxSessions:       1000,
		RequestTimeout:    60 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ShutdownTimeout:   25 * time.Second,
	}
}

// Check returns an error naming the first limit out of range by its
// `lstmq serve` flag.
func (c *Config) Check() error {
	for _, f := range []struct {
		flag string
		v    int64
	}{{"max-batch", int64(c.MaxBatch)}, {"max-queue", int64(c.MaxQueue)}, {"max-body", c.MaxBody},
		{"max-sentences", int64(c.MaxSentences)}, {"max-words", int64(c.MaxWords)}, {"max-k", int64(c.MaxK)},
		{"max-sessions", int64(c.MaxSessions)}} {
		if f.v < 1 {
			return fmt.Errorf("--%s must be >= 1, got %d", f.flag, f.v)
		}
	}
	for _, f := range []struct {
		flag string
		v    time.Duration
	}{{"session-idle", c.SessionIdle}, {"request-timeout", c.RequestTimeout}, {"read-header-timeout", c.ReadHeaderTimeout},
		{"read-timeout", c.ReadTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if f.v <= 0 {
			return fmt.Errorf("--%s must be > 0, got %v", f.flag, f.v)
		}
	}
	switch {
	case c.BatchDelay < 0:
		return fmt.Errorf("--batch-delay must be >= 0, got %v", c.BatchDelay)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("--shutdown-timeout must be >= 0, got %v", c.ShutdownTimeout)
	}
	return nil
}

// Server answers the HTTP API for a set of named models. It is an
// http.Handler; Serve runs it on a listener with timeouts and a graceful
// shutdown. Models are declared by New and become ready through Load, so
// that /healthz answers while they load.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	met      *metrics
	mux      *http.ServeMux
	keyHash  *[sha256.Size]byte // nil: no authentication
	names    []string           // declared models, in order
	models   map[string]*served
	sessions *sessionStore
	closing  atomic.Bool // Serve is shutting down: /readyz answers 503
	close    sync.Once

	// testHook, if set, runs in the batcher before each batched call
	// with its kind and texts, and in generate with each word drawn
	// (kind "word"): tests inject panics and delays.
	testHook atomic.Pointer[func(kind string, texts []string)]
}

// hook runs the test hook, if one is set.
func (s *Server) hook(kind string, texts []string) {
	if h := s.testHook.Load(); h != nil {
		(*h)(kind, texts)
	}
}

// served is one declared model.
type served struct {
	name     string
	loaded   chan struct{} // closed by Load
	m        *lstmq.Model
	b        *batcher
	inflight atomic.Int64 // requests admitted to model work
	queue    prometheus.Gauge
	sessions sync.Pool // *lstmq.Session for generate
}

// New returns a server for the models names, none loaded yet.
func New(cfg Config, names ...string) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("server: no models")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reg: cfg.Registry, mux: http.NewServeMux(), models: map[string]*served{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	s.met = newMetrics(s.reg)
	if cfg.APIKey != "" {
		h := sha256.Sum256([]byte(cfg.APIKey))
		s.keyHash = &h
	}
	for _, n := range names {
		if _, dup := s.models[n]; dup {
			return nil, fmt.Errorf("server: model %q declared twice", n)
		}
		s.names = append(s.names, n)
		s.models[n] = &served{name: n, loaded: make(chan struct{}), queue: s.met.queue.WithLabelValues(n)}
	}
	s.sessions = newSessionStore(cfg.MaxSessions, cfg.SessionIdle, s.met)
	s.routes()
	return s, nil
}

// Load makes the declared model name ready with m, which took took to
// load, and starts its batcher.
func (s *Server) Load(name string, m *lstmq.Model, took time.Duration) error {
	sv := s.models[name]
	if sv == nil {
		return fmt.Errorf("server: model %q was not declared", name)
	}
	if sv.m != nil {
		return fmt.Errorf("server: model %q loaded twice", name)
	}
	sv.m = m
	sv.b = newBatcher(s, sv)
	s.met.loadSecond.WithLabelValues(name).Set(took.Seconds())
	s.met.sentences.WithLabelValues(name) // the series exist (at 0) from the start
	s.met.words.WithLabelValues(name)
	s.met.generated.WithLabelValues(name)
	close(sv.loaded)
	s.log.Info("model loaded", "model", name, "scheme", m.Scheme(), "tokens", m.Tokens(), "threads", m.Threads(), "seconds", took.Seconds())
	return nil
}

// Close stops the batchers and the session sweeper. Requests still
// waiting for a batch get 503; call it once no request is in flight.
func (s *Server) Close() {
	s.close.Do(func() {
		for _, sv := range s.models {
			if sv.b != nil {
				sv.b.close()
			}
		}
		s.sessions.close()
	})
}

// Serve answers HTTP on ln until ctx ends, then stops accepting
// connections, lets the requests in flight finish for up to
// ShutdownTimeout, closes the server and returns nil. /readyz answers 503
// from the moment ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		// A client that stops reading its answer is cut off shortly after
		// the request's own timeout.
		WriteTimeout:   s.cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:    s.cfg.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.closing.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		s.log.Warn("shutdown timeout: closing the connections still open", "err", err)
		hs.Close()
	}
	<-errc // http.ErrServerClosed
	s.Close()
	s.log.Info("stopped")
	return nil
}

// routes registers every route on s.mux.
func (s *Server) routes() {
	s.handle("POST /v1/score", s.score)
	s.handle("POST /v1/next", s.next)
	s.handle("POST /v1/generate", s.generate)
	s.handle("POST /v1/tokenize", s.tokenize)
	s.handle("POST /v1/sessions", s.createSession)
	s.handle("POST /v1/sessions/{id}/feed", s.feedSession)
	s.handle("POST /v1/sessions/{id}/fork", s.forkSession)
	s.handle("DELETE /v1/sessions/{id}", s.deleteSession)
	s.handle("GET /v1/models", s.listModels)
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	s.handle("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
}

// handle registers h, whose error becomes the JSON error answer.
func (s *Server) handle(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.closing.Load() {
		return &httpError{code: http.StatusServiceUnavailable, msg: "shutting down"}
	}
	for _, n := range s.names {
		select {
		case <-s.models[n].loaded:
		default:
			return &httpError{code: http.StatusServiceUnavailable, msg: fmt.Sprintf("model %q is loading", n), retryAfter: 1}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// reqInfo is what a request's log line and metrics report; handlers fill
// it through infoOf.
type reqInfo struct {
	status int
	bytes  int64
	model  string
	err    error
}

type infoKey struct{}

func infoOf(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// ServeHTTP runs a request through authentication, the limits, the
// request timeout, panic recovery, metrics and the request log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, pattern := s.mux.Handler(r)
	endpoint := pattern
	if endpoint == "" {
		endpoint = "unmatched"
	}
	info := &reqInfo{}
	rw := &responseWriter{ResponseWriter: w, info: info}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), infoKey{}, info), s.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(rw, r.Body, s.cfg.MaxBody)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			info.err = fmt.Errorf("panic: %v", p)
			if info.status == 0 {
				writeJSON(rw, http.StatusInternalServerError, errorBody{"internal error"})
			}
		}
		if info.status == 0 {
			info.status = http.StatusOK
		}
		d := time.Since(start)
		s.met.requests.WithLabelValues(endpoint, strconv.Itoa(info.status)).Inc()
		s.met.latency.WithLabelValues(endpoint).Observe(d.Seconds())
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", info.status),
			slog.Duration("duration", d), slog.Int64("bytes", info.bytes), slog.String("remote", r.RemoteAddr)}
		if info.model != "" {
			attrs = append(attrs, slog.String("model", info.model))
		}
		level := slog.LevelInfo
		if info.err != nil {
			attrs = append(attrs, slog.String("err", info.err.Error()))
			if info.status >= 500 && info.status != http.StatusServiceUnavailable && info.status != http.StatusGatewayTimeout {
				level = slog.LevelError
			}
		}
		s.log.LogAttrs(context.Background(), level, "request", attrs...)
	}()
	if strings.HasPrefix(r.URL.Path, "/v1/") && !s.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="lstmq"`)
		s.writeError(rw, r, errorf(http.StatusUnauthorized, "missing or wrong API key: send Authorization: Bearer KEY"))
		return
	}
	if pattern == "" {
		s.unmatched(rw, r)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// authorized reports whether r carries the API key, if one is set. The
// key's hash is compared in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.keyHash == nil {
		return true
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
	return subtle.ConstantTimeCompare(sum[:], s.keyHash[:]) == 1
}

// unmatched answers a request no route matched as ServeMux would (404,
// 405 with Allow, or a redirect to the clean path), errors in JSON.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		s.writeError(w, r, errorf(http.StatusNotFound, "no route %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(rec.body)
	}
}

// model returns the named model, waiting while it loads, or 404.
func (s *Server) model(r *http.Request, name string) (*served, error) {
	sv := s.models[name]
	if sv == nil {
		return nil, errorf(http.StatusNotFound, "unknown model %q (serving %s)", name, strings.Join(s.names, ", "))
	}
	infoOf(r).model = name
	select {
	case <-sv.loaded:
		return sv, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// admit takes one of the model's MaxQueue slots, or answers 429.
func (s *Server) admit(sv *served) (release func(), err error) {
	if n := sv.inflight.Add(1); n > int64(s.cfg.MaxQueue) {
		sv.inflight.Add(-1)
		return nil, busy("model %q has %d requests queued, the limit (--max-queue): retry later", sv.name, s.cfg.MaxQueue)
	}
	sv.queue.Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			sv.inflight.Add(-1)
			sv.queue.Dec()
		})
	}, nil
}

// responseWriter records a response's status and size for the log and
// the metrics; it passes Flush through, for streams.
type responseWriter struct {
	http.ResponseWriter
	info *reqInfo
}

func (w *responseWriter) WriteHeader(code int) {
	if w.info.status == 0 {
		w.info.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.info.status == 0 {
		w.info.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.info.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Flush() {
	if w.info.status == 0 {
		w.info.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recorder keeps what ServeMux answers for an unmatched request.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}
