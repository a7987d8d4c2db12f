package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lstmq/lstmq/internal/rss"
)

// metrics are the server's Prometheus series, registered on the
// Config's registry (never the global one).
type metrics struct {
	requests   *prometheus.CounterVec   // endpoint, code
	latency    *prometheus.HistogramVec // endpoint
	batchRows  *prometheus.HistogramVec // model, kind
	sentences  *prometheus.CounterVec   // model
	words      *prometheus.CounterVec   // model: words scored
	generated  *prometheus.CounterVec   // model: words generated
	queue      *prometheus.GaugeVec     // model
	sessions   prometheus.Gauge
	expired    prometheus.Counter
	loadSecond *prometheus.GaugeVec // model
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lstmq_http_requests_total",
			Help: "HTTP requests by endpoint (the route pattern) and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lstmq_http_request_duration_seconds",
			Help:    "Time from the request's headers to the end of its response, by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms … 16 s
		}, []string{"endpoint"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lstmq_batch_rows",
			Help:    "Rows (sentences or contexts) per batched forward of the dynamic batcher.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model", "kind"}),
		sentences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lstmq_sentences_scored_total",
			Help: "Sentences scored by /v1/score.",
		}, []string{"model"}),
		words: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lstmq_words_scored_total",
			Help: "Words scored by /v1/score (without the final <eos> of each sentence).",
		}, []string{"model"}),
		generated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lstmq_words_generated_total",
			Help: "Words drawn by /v1/generate.",
		}, []string{"model"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lstmq_queue_depth",
			Help: "Requests waiting for or running model work (score, next, generate, session feeds), by model.",
		}, []string{"model"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lstmq_sessions_active",
			Help: "Open stateful sessions.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lstmq_sessions_expired_total",
			Help: "Sessions closed for being idle longer than --session-idle.",
		}),
		loadSecond: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lstmq_model_load_seconds",
			Help: "Seconds it took to load (and quantize) each model.",
		}, []string{"model"}),
	}
	reg.MustRegister(m.requests, m.latency, m.batchRows, m.sentences, m.words, m.generated,
		m.queue, m.sessions, m.expired, m.loadSecond,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "lstmq_peak_resident_memory_bytes",
			Help: "Peak resident set size of the process in bytes (0 where the system does not say).",
		}, func() float64 { return float64(rss.Self()) }),
	)
	return m
}
