package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// loadKinds are the request kinds loadtest sends, in report order.
var loadKinds = []string{"score", "next", "generate", "tokenize", "feed"}

// defaultLoadTexts are the texts loadtest sends without --input: common
// English words, most in any English vocabulary (the others score as
// <unk>).
var defaultLoadTexts = []string{
	"the cat sat on the mat",
	"in the beginning of the year the company said it would",
	"he was born in the city of new york",
	"the game was released in north america",
	"she is the first woman to win the award",
	"there are many species of birds in the area",
	"the film received positive reviews from critics",
	"it was the last time",
}

type loadtest struct {
	base, model, apiKey string
	client              *http.Client
	texts               []string
	mix                 []string // kinds, each repeated by its weight
	sentences, k, words int
}

// loadSample is one request's outcome.
type loadSample struct {
	kind    string
	status  int // 0: no HTTP answer
	err     string
	latency time.Duration
}

func newLoadtestCmd() *cobra.Command {
	var (
		addr, input, mix      string
		asJSON                bool
		concurrency, requests int
		duration, timeout     time.Duration
		lt                    loadtest
	)
	c := &cobra.Command{
		Use:   "loadtest --addr 127.0.0.1:8080 --model NAME [--concurrency 4] [--requests 1000 | --duration 10s] [--mix score=1,next=1]",
		Short: "Load an lstmq server on this machine: requests/s, latency percentiles, errors by status, the server's RSS",
		Long: `Loadtest runs --concurrency clients against an lstmq serve on this machine (a loopback address
only), each sending one request at a time, until --requests requests are done or --duration has
passed (the first bound reached), with kinds drawn from --mix: score (--sentences texts per
request), next (-k), generate (--words), tokenize, feed (one session per client). It reports
requests/s, latency percentiles, the answers by status code, and the server's RSS from /metrics.
It exits 1 if any request failed.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "the server's host:port (loopback only)")
	f.StringVar(&lt.model, "model", "", "the model name to ask for")
	f.IntVarP(&concurrency, "concurrency", "c", 4, "clients, each with one request in flight")
	f.IntVarP(&requests, "requests", "n", 1000, "stop after this many requests (0: no count limit)")
	f.DurationVar(&duration, "duration", 0, "stop after this long (0: no time limit)")
	f.StringVar(&mix, "mix", "score=1", "request kinds and weights: score, next, generate, tokenize, feed")
	f.StringVar(&input, "input", "", "texts to send, one per line (default: a few built-in English sentences)")
	f.IntVar(&lt.sentences, "sentences", 1, "sentences per score request")
	f.IntVarP(&lt.k, "k", "k", 5, "candidates per next or feed request")
	f.IntVar(&lt.words, "words", 20, "words per generate request")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "a request's client-side timeout")
	f.StringVar(&lt.apiKey, "api-key", "", "API key to send (default: $LSTMQ_API_KEY)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	c.RunE = func(c *cobra.Command, _ []string) error {
		switch {
		case lt.model == "":
			return usagef("--model is required")
		case concurrency < 1 || concurrency > 1024:
			return usagef("--concurrency must be in [1, 1024], got %d", concurrency)
		case requests < 0 || duration < 0:
			return usagef("--requests and --duration must be >= 0")
		case requests == 0 && duration == 0:
			return usagef("give --requests or --duration: a load test is bounded")
		case lt.sentences < 1 || lt.k < 1 || lt.words < 0:
			return usagef("--sentences and -k must be >= 1, --words >= 0")
		}
		host, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "http://"))
		if err != nil {
			return usagef("--addr: %v", err)
		}
		if !isLoopback(host) {
			return usagef("--addr must be on this machine (127.0.0.1, ::1 or localhost), got %q", host)
		}
		lt.base = "http://" + net.JoinHostPort(host, port)
		if lt.mix, err = parseMix(mix); err != nil {
			return usageError{err}
		}
		if lt.texts, err = loadTexts(input); err != nil {
			return err
		}
		if lt.apiKey == "" {
			lt.apiKey = os.Getenv("LSTMQ_API_KEY")
		}
		lt.client = &http.Client{Timeout: timeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: concurrency, IdleConnTimeout: 30 * time.Second, DisableCompression: true}}
		defer lt.client.CloseIdleConnections()
		rep, err := lt.run(c.Context(), concurrency, requests, duration)
		if err != nil {
			return err
		}
		out := c.OutOrStdout()
		if asJSON {
			e := json.NewEncoder(out)
			e.SetIndent("", "  ")
			if err := e.Encode(rep); err != nil {
				return err
			}
		} else {
			rep.print(out)
		}
		if rep.Failed > 0 {
			return fmt.Errorf("%d of %d requests failed", rep.Failed, rep.Requests)
		}
		return nil
	}
	return c
}

// parseMix reads "score=3,next=1" into kinds repeated by weight.
func parseMix(s string) ([]string, error) {
	var mix []string
	for part := range strings.SplitSeq(s, ",") {
		kind, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n := 1
		if ok {
			var err error
			if n, err = strconv.Atoi(w); err != nil || n < 0 || n > 100 {
				return nil, fmt.Errorf("--mix: weight of %q must be an integer in [0, 100], got %q", kind, w)
			}
		}
		if !slices.Contains(loadKinds, kind) {
			return nil, fmt.Errorf("--mix: unknown kind %q (want %s)", kind, strings.Join(loadKinds, ", "))
		}
		for range n {
			mix = append(mix, kind)
		}
	}
	if len(mix) == 0 {
		return nil, errors.New("--mix: every weight is 0")
	}
	return mix, nil
}

func loadTexts(path string) ([]string, error) {
	if path == "" {
		return defaultLoadTexts, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(texts) < 100000 {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			texts = append(texts, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%s: no texts", path)
	}
	return texts, nil
}

// run runs the clients and gathers the report.
func (lt *loadtest) run(ctx context.Context, clients, requests int, duration time.Duration) (*loadReport, error) {
	before, err := lt.scrape(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w (is lstmq serve running there?)", lt.base, err)
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	// A sampler reads the server's RSS every 250 ms while the clients run.
	var rssMax atomic.Int64
	rssMax.Store(int64(before["process_resident_memory_bytes"]))
	stopSampler := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if m, err := lt.scrape(context.Background()); err == nil {
					rss := int64(m["process_resident_memory_bytes"])
					if rss > rssMax.Load() {
						rssMax.Store(rss)
					}
				}
			case <-stopSampler:
				return
			}
		}
	})
	var tickets atomic.Int64
	results := make([][]loadSample, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 0x6c73746d71))
			var session string
			for ctx.Err() == nil && (requests == 0 || tickets.Add(1) <= int64(requests)) {
				results[i] = append(results[i], lt.one(ctx, rng, &session))
			}
			if session != "" {
				lt.send(context.Background(), http.MethodDelete, "/v1/sessions/"+session, nil, nil)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampler)
	sampled.Wait()
	after, err := lt.scrape(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s/metrics after the run: %w", lt.base, err)
	}
	var all []loadSample
	for _, r := range results {
		// A request cut by the end of --duration is not counted.
		for _, s := range r {
			if !(duration > 0 && s.status == 0 && ctx.Err() != nil && strings.Contains(s.err, "context deadline exceeded")) {
				all = append(all, s)
			}
		}
	}
	return lt.report(all, clients, elapsed, before, after, rssMax.Load()), nil
}

// one sends one request of a kind drawn from the mix.
func (lt *loadtest) one(ctx context.Context, rng *rand.Rand, session *string) loadSample {
	kind := lt.mix[rng.IntN(len(lt.mix))]
	text := func() string { return lt.texts[rng.IntN(len(lt.texts))] }
	var path string
	body := map[string]any{"model": lt.model}
	switch kind {
	case "score":
		ss := make([]string, lt.sentences)
		for i := range ss {
			ss[i] = text()
		}
		path, body["sentences"] = "/v1/score", ss
	case "next":
		path, body["context"], body["k"] = "/v1/next", text(), lt.k
	case "generate":
		path, body["words"], body["seed"] = "/v1/generate", lt.words, rng.Uint64()
	case "tokenize":
		path, body["text"] = "/v1/tokenize", text()
	case "feed":
		if *session == "" {
			var r struct{ ID string }
			status, err := lt.send(ctx, http.MethodPost, "/v1/sessions", map[string]any{"model": lt.model}, &r)
			if status != http.StatusOK {
				return loadSample{kind: kind, status: status, err: errString(err)}
			}
			*session = r.ID
		}
		path, body = "/v1/sessions/"+*session+"/feed", map[string]any{"text": text(), "k": lt.k}
	}
	start := time.Now()
	status, err := lt.send(ctx, http.MethodPost, path, body, nil)
	if kind == "feed" && status == http.StatusNotFound {
		*session = "" // expired: the next feed opens another
	}
	return loadSample{kind: kind, status: status, err: errString(err), latency: time.Since(start)}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// send sends body (if not nil) as JSON, reads the whole answer into out
// (if not nil) and returns the status, 0 without an answer.
func (lt *loadtest) send(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, lt.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if lt.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+lt.apiKey)
	}
	resp, err := lt.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// scrape reads the server's /metrics into sums by series name (labels
// summed over).
func (lt *loadtest) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, lt.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := lt.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line+" ", "{ ")]
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			m[name] += v
		}
	}
	return m, sc.Err()
}

// loadReport is what loadtest prints.
type loadReport struct {
	Target      string         `json:"target"`
	Model       string         `json:"model"`
	Concurrency int            `json:"concurrency"`
	Requests    int            `json:"requests"`
	Failed      int            `json:"failed"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"requests_per_second"`
	Latency     loadLatency    `json:"latency_ms"`
	Kinds       []kindReport   `json:"kinds"`
	Status      map[string]int `json:"status"` // "200", …, or "error: …" without an answer
	Server      serverReport   `json:"server"`
}

type loadLatency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type kindReport struct {
	Kind     string      `json:"kind"`
	Requests int         `json:"requests"`
	Latency  loadLatency `json:"latency_ms"`
}

type serverReport struct {
	RSSBefore  float64 `json:"rss_before_mb"`
	RSSAfter   float64 `json:"rss_after_mb"`
	RSSMax     float64 `json:"rss_max_sampled_mb"`
	PeakRSS    float64 `json:"peak_rss_mb"` // getrusage's, over the server's life
	Batches    float64 `json:"batches"`
	MeanRows   float64 `json:"mean_batch_rows"`
	FirstError string  `json:"first_error,omitempty"`
}

func (lt *loadtest) report(all []loadSample, clients int, elapsed time.Duration, before, after map[string]float64, rssMax int64) *loadReport {
	const mb = 1 << 20
	rep := &loadReport{Target: lt.base, Model: lt.model, Concurrency: clients, Requests: len(all),
		Seconds: elapsed.Seconds(), PerSecond: float64(len(all)) / elapsed.Seconds(), Status: map[string]int{}}
	byKind := map[string][]time.Duration{}
	var lat []time.Duration
	for _, s := range all {
		key := strconv.Itoa(s.status)
		if s.status == 0 {
			key = "error"
		}
		rep.Status[key]++
		if s.status != http.StatusOK {
			rep.Failed++
			if rep.Server.FirstError == "" {
				rep.Server.FirstError = s.err
			}
			continue
		}
		lat = append(lat, s.latency)
		byKind[s.kind] = append(byKind[s.kind], s.latency)
	}
	rep.Latency = percentiles(lat)
	for _, k := range loadKinds {
		if ls := byKind[k]; len(ls) > 0 {
			rep.Kinds = append(rep.Kinds, kindReport{k, len(ls), percentiles(ls)})
		}
	}
	rep.Server.RSSBefore = before["process_resident_memory_bytes"] / mb
	rep.Server.RSSAfter = after["process_resident_memory_bytes"] / mb
	rep.Server.RSSMax = max(float64(rssMax), after["process_resident_memory_bytes"]) / mb
	rep.Server.PeakRSS = after["lstmq_peak_resident_memory_bytes"] / mb
	rep.Server.Batches = after["lstmq_batch_rows_count"] - before["lstmq_batch_rows_count"]
	if rep.Server.Batches > 0 {
		rep.Server.MeanRows = (after["lstmq_batch_rows_sum"] - before["lstmq_batch_rows_sum"]) / rep.Server.Batches
	}
	return rep
}

// percentiles returns the nearest-rank percentiles of ls, in ms.
func percentiles(ls []time.Duration) loadLatency {
	if len(ls) == 0 {
		return loadLatency{}
	}
	slices.Sort(ls)
	at := func(p float64) float64 {
		i := min(len(ls)-1, max(0, int(float64(len(ls))*p+0.999999)-1))
		return float64(ls[i]) / 1e6
	}
	return loadLatency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: float64(ls[len(ls)-1]) / 1e6}
}

func (rep *loadReport) print(w io.Writer) {
	fmt.Fprintf(w, "loadtest %s, model %s: %d clients, %d requests in %.2f s\n", rep.Target, rep.Model, rep.Concurrency, rep.Requests, rep.Seconds)
	fmt.Fprintf(w, "requests/s   %.1f\n", rep.PerSecond)
	l := rep.Latency
	fmt.Fprintf(w, "latency ms   p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", l.P50, l.P95, l.P99, l.Max)
	for _, k := range rep.Kinds {
		l := k.Latency
		fmt.Fprintf(w, "  %-10s %d requests: p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", k.Kind, k.Requests, l.P50, l.P95, l.P99, l.Max)
	}
	codes := make([]string, 0, len(rep.Status))
	for c := range rep.Status {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprint(w, "status      ")
	for _, c := range codes {
		fmt.Fprintf(w, " %s: %d", c, rep.Status[c])
	}
	fmt.Fprintln(w)
	if rep.Server.FirstError != "" {
		fmt.Fprintf(w, "first error  %s\n", rep.Server.FirstError)
	}
	s := rep.Server
	fmt.Fprintf(w, "server       RSS %.1f MB before, %.1f MB after, %.1f MB at most while sampled; peak RSS %.1f MB\n", s.RSSBefore, s.RSSAfter, s.RSSMax, s.PeakRSS)
	if s.Batches > 0 {
		fmt.Fprintf(w, "batches      %.0f, %.2f rows on average\n", s.Batches, s.MeanRows)
	}
}
