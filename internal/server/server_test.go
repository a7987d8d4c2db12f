package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lstmq/lstmq"
)

var (
	torchDir  = filepath.Join("..", "..", "testdata", "torch")
	deepPth   = filepath.Join(torchDir, "deep.pth")
	corpusDir = filepath.Join(torchDir, "corpus")
)

// openDeep opens the fixture model (291 words, with <unk>) on one thread
// with batch size batch.
func openDeep(t testing.TB, batch int) *lstmq.Model {
	t.Helper()
	m, err := lstmq.Open(deepPth, lstmq.WithVocabulary(corpusDir), lstmq.WithThreads(1), lstmq.WithBatchSize(batch))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testServer is a Server on the deep model named "deep", behind an
// httptest server, with its log in a buffer.
type testServer struct {
	*Server
	url string
	m   *lstmq.Model
	log *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newTestServer starts a server on the deep model with DefaultConfig
// changed by edit (if not nil).
func newTestServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	return startServer(t, cfg, openDeep(t, cfg.MaxBatch))
}

// startServer starts a server on m, named "deep", behind an httptest
// server.
func startServer(t testing.TB, cfg Config, m *lstmq.Model) *testServer {
	t.Helper()
	ts := newServer(t, cfg, m)
	hs := httptest.NewServer(ts)
	t.Cleanup(hs.Close)
	ts.url = hs.URL
	return ts
}

// newServer returns a server on m (if not nil), named "deep", with its
// log in a buffer, not listening yet.
func newServer(t testing.TB, cfg Config, m *lstmq.Model) *testServer {
	t.Helper()
	log := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	s, err := New(cfg, "deep")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if m != nil {
		if err := s.Load("deep", m, 0); err != nil {
			t.Fatal(err)
		}
	}
	return &testServer{Server: s, m: m, log: log}
}

// do sends body (a string or a value to encode) and returns the status
// and the decoded JSON answer.
func (ts *testServer) do(t testing.TB, method, path string, body any, header ...string) (int, map[string]any) {
	t.Helper()
	code, b, _ := ts.raw(t, method, path, body, header...)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: %d, not a JSON object: %q", method, path, code, b)
	}
	return code, v
}

// raw is do without decoding the answer.
func (ts *testServer) raw(t testing.TB, method, path string, body any, header ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// healthy fails t unless /healthz answers 200.
func (ts *testServer) healthy(t testing.TB) {
	t.Helper()
	if code, _ := ts.do(t, "GET", "/healthz", nil); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
}

// metric returns the sum over its series of a counter, gauge or the count
// of a histogram, and the histogram's sum.
func (ts *testServer) metric(t testing.TB, name string) (value, sum float64) {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			value += metricValue(m)
			if h := m.GetHistogram(); h != nil {
				sum += h.GetSampleSum()
			}
		}
	}
	return value, sum
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// goldenSentences reads PyTorch's fp32 scores of the deep model.
func goldenSentences(t testing.TB) (texts []string, logprobs []float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(torchDir, "score", "score.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Models map[string]struct {
			Variants map[string][]struct {
				Text    string
				Logprob float64
			}
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for _, s := range g.Models["deep"].Variants["fp32"] {
		texts, logprobs = append(texts, s.Text), append(logprobs, s.Logprob)
	}
	return texts, logprobs
}

type scoreAnswer struct {
	Results []struct {
		LogProb float64 `json:"logprob"`
		Tokens  int     `json:"tokens"`
		OOV     int     `json:"oov"`
		PPL     float64 `json:"ppl"`
		Words   []struct {
			Word    string  `json:"word"`
			ID      int32   `json:"id"`
			LogProb float64 `json:"logprob"`
			Unknown bool    `json:"unknown"`
		} `json:"words"`
	} `json:"results"`
}

func (ts *testServer) score(t testing.TB, sentences []string, perToken bool) scoreAnswer {
	t.Helper()
	code, b, _ := ts.raw(t, "POST", "/v1/score", map[string]any{"model": "deep", "sentences": sentences, "per_token": perToken})
	if code != http.StatusOK {
		t.Fatalf("score: %d %s", code, b)
	}
	var a scoreAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Results) != len(sentences) {
		t.Fatalf("%d results for %d sentences", len(a.Results), len(sentences))
	}
	return a
}

// TestScoreMatchesPyTorch scores PyTorch's golden sentences over HTTP, at
// batch 16 and with batching off: per-sentence log-probabilities within
// 1e-4 of PyTorch's (the bar; float32 logits over a few dozen
// tokens differ by ~1e-6), and equal to the library's Score within 1e-9
// with every per-token field.
func TestScoreMatchesPyTorch(t *testing.T) {
	texts, want := goldenSentences(t)
	for _, batch := range []int{16, 1} {
		ts := newTestServer(t, func(c *Config) { c.MaxBatch = batch })
		got := ts.score(t, texts, true)
		lib, err := ts.m.NewSession().Score(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got.Results {
			if d := math.Abs(r.LogProb - want[i]); d > 1e-4 {
				t.Errorf("batch %d %q: logprob %v, PyTorch %v", batch, texts[i], r.LogProb, want[i])
			}
			l := lib[i]
			if math.Abs(r.LogProb-l.LogProb) > 1e-9 || r.Tokens != len(l.Tokens) || r.OOV != l.OOV || math.Abs(r.PPL-l.Perplexity()) > 1e-9*r.PPL {
				t.Errorf("batch %d %q: %+v, library %+v", batch, texts[i], r, l)
			}
			for j, w := range r.Words {
				lt := l.Tokens[j]
				if w.Word != lt.Word || w.ID != lt.ID || w.Unknown != lt.Unknown || math.Abs(w.LogProb-lt.LogProb) > 1e-9 {
					t.Errorf("%q word %d: %+v, library %+v", texts[i], j, w, lt)
				}
			}
		}
	}
}

// TestEndpointsMatchLibrary checks next, generate (plain and streamed),
// tokenize and session feeds against the library's own calls.
func TestEndpointsMatchLibrary(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()

	t.Run("next", func(t *testing.T) {
		for _, c := range []string{"", "the", "plol the risdiren", "the zzz-unknown ."} {
			s := ts.m.NewSession()
			if err := s.Feed(ctx, c); err != nil {
				t.Fatal(err)
			}
			want := s.Next(7)
			code, v := ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": c, "k": 7})
			if code != http.StatusOK {
				t.Fatalf("%d %v", code, v)
			}
			checkCandidates(t, v["candidates"], want, 1e-6)
		}
		// Without "k": 5.
		_, v := ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": "the"})
		if n := len(v["candidates"].([]any)); n != 5 {
			t.Errorf("default k: %d candidates", n)
		}
	})

	t.Run("generate", func(t *testing.T) {
		opts := lstmq.GenerateOptions{Prompt: "the", Words: 12, Temperature: 0.8, TopK: 20, Seed: 42}
		want, err := ts.m.NewSession().Generate(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		req := map[string]any{"model": "deep", "prompt": "the", "words": 12, "temperature": 0.8, "top_k": 20, "seed": 42}
		code, v := ts.do(t, "POST", "/v1/generate", req)
		if code != http.StatusOK || v["text"] != want || v["words"] != 12.0 || v["seed"] != 42.0 {
			t.Fatalf("%d %v, library %q", code, v, want)
		}
		req["stream"] = true
		code, b, h := ts.raw(t, "POST", "/v1/generate", req)
		if code != http.StatusOK || h.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("stream: %d %s", code, h.Get("Content-Type"))
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		var words []string
		for _, l := range lines[:len(lines)-1] {
			var w struct{ Word string }
			if err := json.Unmarshal([]byte(l), &w); err != nil || w.Word == "" {
				t.Fatalf("chunk %q: %v", l, err)
			}
			words = append(words, w.Word)
		}
		if strings.Join(words, " ") != want {
			t.Errorf("streamed %q, library %q", words, want)
		}
		if last := lines[len(lines)-1]; last != `{"done":true,"words":12,"seed":42}` {
			t.Errorf("last line %s", last)
		}
		// temperature 0 is greedy: the most likely word each time.
		_, v = ts.do(t, "POST", "/v1/generate", map[string]any{"model": "deep", "prompt": "the", "words": 3, "temperature": 0})
		s := ts.m.NewSession()
		greedy, _ := s.Generate(ctx, lstmq.GenerateOptions{Prompt: "the", Words: 3, TopK: 1, Seed: 9})
		if v["text"] != greedy {
			t.Errorf("temperature 0: %q, greedy %q", v["text"], greedy)
		}
	})

	t.Run("tokenize", func(t *testing.T) {
		text := "the plol zzz-unknown ."
		want, err := ts.m.Tokenize(text)
		if err != nil {
			t.Fatal(err)
		}
		code, v := ts.do(t, "POST", "/v1/tokenize", map[string]any{"model": "deep", "text": text})
		toks := v["tokens"].([]any)
		if code != http.StatusOK || len(toks) != len(want) {
			t.Fatalf("%d %v", code, v)
		}
		for i, tk := range toks {
			m := tk.(map[string]any)
			if m["word"] != want[i].Word || m["id"] != float64(want[i].ID) || m["unknown"] != want[i].Unknown {
				t.Errorf("token %d: %v, library %+v", i, m, want[i])
			}
		}
	})

	t.Run("session", func(t *testing.T) {
		_, v := ts.do(t, "POST", "/v1/sessions", map[string]any{"model": "deep"})
		id := v["id"].(string)
		s := ts.m.NewSession()
		for _, text := range []string{"the", "plol the", "", "risdiren"} {
			if err := s.Feed(ctx, text); err != nil {
				t.Fatal(err)
			}
			code, v := ts.do(t, "POST", "/v1/sessions/"+id+"/feed", map[string]any{"text": text, "k": 4})
			if code != http.StatusOK || v["id"] != id {
				t.Fatalf("%d %v", code, v)
			}
			checkCandidates(t, v["candidates"], s.Next(4), 1e-9)
		}
		if code, v := ts.do(t, "DELETE", "/v1/sessions/"+id, nil); code != http.StatusOK || v["id"] != id {
			t.Errorf("delete: %d %v", code, v)
		}
		if code, _ := ts.do(t, "POST", "/v1/sessions/"+id+"/feed", map[string]any{"text": "the"}); code != http.StatusNotFound {
			t.Errorf("feed after delete: %d", code)
		}
	})

	t.Run("models", func(t *testing.T) {
		code, v := ts.do(t, "GET", "/v1/models", nil)
		want := map[string]any{"name": "deep", "ready": true, "scheme": "fp32", "tokens": 291.0, "threads": 1.0}
		if ms := v["models"].([]any); code != http.StatusOK || len(ms) != 1 || !mapsEqual(ms[0].(map[string]any), want) {
			t.Errorf("%d %v", code, v)
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, _ := ts.do(t, "GET", p, nil); code != http.StatusOK {
				t.Errorf("%s: %d", p, code)
			}
		}
		code, b, _ := ts.raw(t, "GET", "/metrics", nil)
		for _, name := range []string{"lstmq_http_requests_total", "lstmq_http_request_duration_seconds", "lstmq_batch_rows",
			"lstmq_sentences_scored_total", "lstmq_words_scored_total", "lstmq_words_generated_total", "lstmq_queue_depth",
			"lstmq_sessions_active", "lstmq_model_load_seconds", "process_resident_memory_bytes"} {
			if code != http.StatusOK || !bytes.Contains(b, []byte("\n"+name)) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	})
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkCandidates compares the JSON candidates got with want: same words
// and ids in the same order, probabilities within tol.
func checkCandidates(t *testing.T, got any, want []lstmq.Candidate, tol float64) {
	t.Helper()
	cs, _ := got.([]any)
	if len(cs) != len(want) {
		t.Fatalf("%d candidates, want %d", len(cs), len(want))
	}
	for i, c := range cs {
		m := c.(map[string]any)
		if m["word"] != want[i].Word || m["id"] != float64(want[i].ID) || math.Abs(m["prob"].(float64)-want[i].Prob) > tol {
			t.Errorf("candidate %d: %v, want %+v", i, m, want[i])
		}
	}
}

// TestNewConfig checks that New refuses a bad limit by its flag name and
// unknown or twice-loaded models.
func TestNewConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBatch = 0
	if _, err := New(cfg, "a"); err == nil || !strings.Contains(err.Error(), "--max-batch") {
		t.Errorf("MaxBatch 0: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Registry = prometheus.NewRegistry()
	if _, err := New(cfg, "a", "a"); err == nil {
		t.Error("a model declared twice")
	}
	s, err := New(cfg)
	if err == nil {
		s.Close()
		t.Error("no models")
	}
	s, err = New(DefaultConfig(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := openDeep(t, 16)
	if err := s.Load("b", m, 0); err == nil {
		t.Error("loaded an undeclared model")
	}
	if err := s.Load("a", m, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Load("a", m, 0); err == nil {
		t.Error("loaded twice")
	}
}

// setHook sets the server's test hook.
func (ts *testServer) setHook(h func(kind string, texts []string)) { ts.testHook.Store(&h) }
