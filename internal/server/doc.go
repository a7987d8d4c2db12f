// Package server is the HTTP inference server of `lstmq serve`: a JSON
// API over lstmq models with dynamic batching, stateful sessions,
// Prometheus metrics and limits on everything a client sends.
//
// Routes (every error is {"error": "…"} with a fitting status code):
//
//	POST   /v1/score                {"model", "sentences", "per_token"}
//	POST   /v1/next                 {"model", "context", "k"}
//	POST   /v1/generate             {"model", "prompt", "words", "temperature", "top_k", "top_p", "seed", "stream"}
//	POST   /v1/tokenize             {"model", "text"}
//	POST   /v1/sessions             {"model"} → {"id"}
//	POST   /v1/sessions/{id}/feed   {"text", "k"}
//	POST   /v1/sessions/{id}/fork   → {"id"}
//	DELETE /v1/sessions/{id}
//	GET    /v1/models, /healthz, /readyz, /metrics
//
// Score and next requests of one model go through its batcher: one
// goroutine owning one lstmq.Session that runs the queued requests as one
// Score and one NextBatch call of up to Config.MaxBatch rows (see
// batcher). Generate and session feeds run on the request's goroutine
// with a session of their own; all of them share the model's threads and
// its queue limit (Config.MaxQueue).
//
// A Server is an http.Handler; Serve runs it with the http.Server
// timeouts of its Config and shuts down gracefully when its context ends.
// Its metrics live on the Config's prometheus.Registry, never the global
// one.
package server
