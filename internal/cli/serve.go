package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/internal/server"
)

// servedModel is one --model of serve.
type servedModel struct{ name, path string }

// modelFlags is serve's --model: repeated, NAME=PATH or PATH.
type modelFlags []servedModel

var modelName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (mf *modelFlags) String() string {
	var parts []string
	for _, m := range *mf {
		parts = append(parts, m.name+"="+m.path)
	}
	return strings.Join(parts, ",")
}

func (mf *modelFlags) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || path == "" || !modelName.MatchString(name) {
		path = v
		name = strings.TrimSuffix(filepath.Base(v), filepath.Ext(v))
	}
	if path == "" || name == "" {
		return fmt.Errorf("want NAME=PATH or PATH, got %q", v)
	}
	for _, m := range *mf {
		if m.name == name {
			return fmt.Errorf("two models named %q: name them with NAME=PATH", name)
		}
	}
	*mf = append(*mf, servedModel{name, path})
	return nil
}

func (mf *modelFlags) Type() string { return "[NAME=]PATH" }

func newServeCmd() *cobra.Command {
	cfg := server.DefaultConfig()
	var (
		addr, logFormat string
		models          modelFlags
	)
	c := &cobra.Command{
		Use:   "serve --model [NAME=]PATH [--model …] --data DIR|--vocab FILE [--addr 127.0.0.1:8080]",
		Short: "Serve models over HTTP: score, next, generate, tokenize, stateful sessions, metrics",
		Long: `Serve answers a JSON API over HTTP for one or more models (see internal/server):
POST /v1/score, /v1/next, /v1/generate, /v1/tokenize, /v1/sessions, /v1/sessions/{id}/feed,
/v1/sessions/{id}/fork, DELETE /v1/sessions/{id}, GET /v1/models, /healthz, /readyz, /metrics.
Concurrent score and next requests are batched. It listens at once and loads the models after:
/readyz answers 200 once all are loaded. SIGINT or SIGTERM stops it gracefully (exit 0).`,
		Args: cobra.NoArgs,
	}
	lf := addLibFlags(c, 0)
	mf := c.Flags().Lookup("model")
	mf.Value, mf.DefValue = &models, ""
	mf.Usage = "a model to serve, NAME=PATH, or PATH (named after its file, without the extension); repeat for more"
	f := c.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "host:port to listen on (127.0.0.1: this machine only)")
	f.IntVar(&cfg.MaxBatch, "max-batch", cfg.MaxBatch, "sentences or contexts per batched forward (1: no batching); also the models' batch size")
	f.DurationVar(&cfg.BatchDelay, "batch-delay", cfg.BatchDelay, "longest a score or next request waits for others to batch with")
	f.IntVar(&cfg.MaxQueue, "max-queue", cfg.MaxQueue, "requests waiting for or running model work, per model; past it 429")
	f.Int64Var(&cfg.MaxBody, "max-body", cfg.MaxBody, "largest request body in bytes; past it 413")
	f.IntVar(&cfg.MaxSentences, "max-sentences", cfg.MaxSentences, "sentences per score request; past it 413")
	f.IntVar(&cfg.MaxWords, "max-words", cfg.MaxWords, "words per request (all its texts, or the words to generate); past it 413")
	f.IntVar(&cfg.MaxK, "max-k", cfg.MaxK, "candidates per next or feed request; past it 413")
	f.DurationVar(&cfg.SessionIdle, "session-idle", cfg.SessionIdle, "close a session unused this long")
	f.IntVar(&cfg.MaxSessions, "max-sessions", cfg.MaxSessions, "open sessions; past it 429")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "longest a request may take; past it 504")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", cfg.ReadHeaderTimeout, "longest a client may take to send its headers")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "longest a client may take to send its request")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close keep-alive connections idle this long")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "on SIGINT/SIGTERM, how long in-flight requests may take to finish")
	f.StringVar(&cfg.APIKey, "api-key", "", "require Authorization: Bearer KEY on /v1 routes (default: $LSTMQ_API_KEY; the environment keeps it out of ps)")
	f.StringVar(&logFormat, "log-format", "text", "request log on stderr: text or json")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if len(models) == 0 {
			return usagef("--model is required")
		}
		if err := cfg.Check(); err != nil {
			return usageError{err}
		}
		var h slog.Handler
		switch logFormat {
		case "text":
			h = slog.NewTextHandler(c.ErrOrStderr(), nil)
		case "json":
			h = slog.NewJSONHandler(c.ErrOrStderr(), nil)
		default:
			return usagef("--log-format must be text or json, got %q", logFormat)
		}
		if cfg.APIKey == "" {
			cfg.APIKey = os.Getenv("LSTMQ_API_KEY")
		}
		cfg.Logger, cfg.Registry = slog.New(h), prometheus.NewRegistry()
		names := make([]string, len(models))
		for i, m := range models {
			names[i] = m.name
		}
		srv, err := server.New(cfg, names...)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		if host, _, _ := net.SplitHostPort(addr); cfg.APIKey == "" && !isLoopback(host) {
			cfg.Logger.Warn("listening beyond this machine without --api-key", "addr", addr)
		}
		cfg.Logger.Info("listening", "addr", ln.Addr().String(), "models", strings.Join(names, ","))
		ctx, cancel := context.WithCancelCause(c.Context())
		defer cancel(nil)
		lf.batch = cfg.MaxBatch
		go func() {
			for _, m := range models {
				start := time.Now()
				lf.model = m.path
				lm, err := lf.open(lstmq.WithMaxWords(cfg.MaxWords))
				if err == nil {
					err = srv.Load(m.name, lm, time.Since(start))
				}
				if err != nil {
					cancel(errLoad{err})
					return
				}
			}
		}()
		err = srv.Serve(ctx, ln)
		var le errLoad
		if errors.As(context.Cause(ctx), &le) {
			return le.err
		}
		return err
	}
	return c
}

// errLoad is a model that failed to load, which stops serve.
type errLoad struct{ err error }

func (e errLoad) Error() string { return e.err.Error() }

// isLoopback reports whether host (an IP or "localhost") is this machine
// only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
