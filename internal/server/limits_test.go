package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lstmq/lstmq"
)

// TestBadInput sends every bad-input and limit case of the point
// 4: each must answer its status with {"error": "…"} naming the problem,
// and the server must still answer /healthz.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.MaxBody = 2048
		c.MaxSentences = 4
		c.MaxWords = 10
		c.MaxK = 50
	})
	_, v := ts.do(t, "POST", "/v1/sessions", map[string]any{"model": "deep"})
	sid := v["id"].(string)
	big := `{"model":"deep","sentences":["` + strings.Repeat("the ", 1000) + `"]}`
	eleven := strings.Repeat("the ", 11)
	cases := []struct {
		name, method, path string
		body               any
		code               int
		says               string // in the error message
	}{
		{"body over --max-body", "POST", "/v1/score", big, 413, "--max-body"},
		{"sentences over the limit", "POST", "/v1/score", map[string]any{"model": "deep", "sentences": []string{"a", "b", "c", "d", "e"}}, 413, "--max-sentences"},
		{"words over the limit, score", "POST", "/v1/score", map[string]any{"model": "deep", "sentences": []string{"the the the the the the", "the the the the the"}}, 413, "--max-words"},
		{"words over the limit, next", "POST", "/v1/next", map[string]any{"model": "deep", "context": eleven}, 413, "--max-words"},
		{"words over the limit, generate", "POST", "/v1/generate", map[string]any{"model": "deep", "words": 11}, 413, "--max-words"},
		{"words over the limit, prompt", "POST", "/v1/generate", map[string]any{"model": "deep", "prompt": eleven}, 413, "--max-words"},
		{"words over the limit, tokenize", "POST", "/v1/tokenize", map[string]any{"model": "deep", "text": eleven}, 413, "--max-words"},
		{"words over the limit, feed", "POST", "/v1/sessions/" + sid + "/feed", map[string]any{"text": eleven}, 413, "--max-words"},
		{"k over the limit", "POST", "/v1/next", map[string]any{"model": "deep", "context": "the", "k": 51}, 413, "k = 51"},
		{"invalid JSON", "POST", "/v1/score", `{"model": "deep", "sentences": [`, 400, "invalid JSON at offset"},
		{"trailing garbage", "POST", "/v1/score", `{"model": "deep", "sentences": []} x`, 400, "invalid JSON"},
		{"empty body", "POST", "/v1/next", ``, 400, "empty body"},
		{"not an object", "POST", "/v1/next", `["the"]`, 400, "must be a JSON object, got array"},
		{"invalid UTF-8", "POST", "/v1/score", []byte("{\"model\": \"deep\", \"sentences\": [\"the \xff cat\"]}"), 400, "the body: invalid UTF-8: byte 0xff at offset 37"},
		{"missing model", "POST", "/v1/score", map[string]any{"sentences": []string{"the"}}, 400, `missing field "model"`},
		{"missing sentences", "POST", "/v1/score", map[string]any{"model": "deep"}, 400, `missing field "sentences"`},
		{"missing context", "POST", "/v1/next", map[string]any{"model": "deep"}, 400, `missing field "context"`},
		{"missing text", "POST", "/v1/tokenize", map[string]any{"model": "deep"}, 400, `missing field "text"`},
		{"missing text, feed", "POST", "/v1/sessions/" + sid + "/feed", map[string]any{}, 400, `missing field "text"`},
		{"missing model, generate", "POST", "/v1/generate", map[string]any{"prompt": "the"}, 400, `missing field "model"`},
		{"missing model, session", "POST", "/v1/sessions", map[string]any{}, 400, `missing field "model"`},
		{"sentences not an array", "POST", "/v1/score", `{"model": "deep", "sentences": "the cat"}`, 400, `field "sentences": want an array of strings, got string`},
		{"a sentence not a string", "POST", "/v1/score", `{"model": "deep", "sentences": ["the", 3]}`, 400, `field "sentences": want an array of strings, got number`},
		{"k not an integer", "POST", "/v1/next", `{"model": "deep", "context": "the", "k": "five"}`, 400, `field "k": want an integer, got string`},
		{"k fractional", "POST", "/v1/next", `{"model": "deep", "context": "the", "k": 1.5}`, 400, `field "k": want an integer, got number 1.5`},
		{"k zero", "POST", "/v1/next", `{"model": "deep", "context": "the", "k": 0}`, 400, `field "k": want an integer >= 1`},
		{"model not a string", "POST", "/v1/next", `{"model": 7, "context": "the"}`, 400, `field "model": want a string, got number`},
		{"per_token not a bool", "POST", "/v1/score", `{"model": "deep", "sentences": [], "per_token": "yes"}`, 400, `field "per_token": want true or false`},
		{"seed negative", "POST", "/v1/generate", `{"model": "deep", "seed": -1}`, 400, `field "seed": want a non-negative integer`},
		{"temperature negative", "POST", "/v1/generate", `{"model": "deep", "temperature": -1}`, 400, `field "temperature"`},
		{"top_p over 1", "POST", "/v1/generate", `{"model": "deep", "top_p": 1.5}`, 400, `field "top_p"`},
		{"top_k negative", "POST", "/v1/generate", `{"model": "deep", "top_k": -2}`, 400, `field "top_k"`},
		{"words negative", "POST", "/v1/generate", `{"model": "deep", "words": -2}`, 400, `field "words"`},
		{"unknown model", "POST", "/v1/score", map[string]any{"model": "nope", "sentences": []string{"the"}}, 404, `unknown model "nope"`},
		{"unknown model, session", "POST", "/v1/sessions", map[string]any{"model": "nope"}, 404, `unknown model "nope"`},
		{"unknown session, feed", "POST", "/v1/sessions/nope/feed", map[string]any{"text": "the"}, 404, `unknown session "nope"`},
		{"unknown session, fork", "POST", "/v1/sessions/nope/fork", nil, 404, `unknown session "nope"`},
		{"unknown session, delete", "DELETE", "/v1/sessions/nope", nil, 404, `unknown session "nope"`},
		{"no route", "GET", "/v2/score", nil, 404, "no route GET /v2/score"},
		{"wrong method", "GET", "/v1/score", nil, 405, "allowed: POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b, h := ts.raw(t, c.method, c.path, c.body)
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil || len(e) != 1 {
				t.Fatalf("%d, not {\"error\": …}: %q", code, b)
			}
			msg, _ := e["error"].(string)
			if code != c.code || !strings.Contains(msg, c.says) {
				t.Errorf("%d %q, want %d and a message with %q", code, msg, c.code, c.says)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			ts.healthy(t)
		})
	}
	// The session survived its bad feeds.
	if code, _ := ts.do(t, "POST", "/v1/sessions/"+sid+"/feed", map[string]any{"text": "the"}); code != 200 {
		t.Errorf("feed after bad feeds: %d", code)
	}
}

// TestUnknownWord serves the deep model with a vocabulary without <unk>:
// a word outside it is a 400 naming the sentence and the word.
func TestUnknownWord(t *testing.T) {
	words := openDeep(t, 1).Vocabulary()
	for i, w := range words {
		if w == "<unk>" {
			words[i] = "unk-free"
		}
	}
	vocab := filepath.Join(t.TempDir(), "vocab.txt")
	if err := os.WriteFile(vocab, []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := lstmq.Open(deepPth, lstmq.WithVocabulary(vocab), lstmq.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, DefaultConfig(), m)
	for _, c := range []struct {
		path string
		body map[string]any
		says string
	}{
		{"/v1/score", map[string]any{"model": "deep", "sentences": []string{"the", "the zzz"}}, "sentences[1]: "},
		{"/v1/next", map[string]any{"model": "deep", "context": "zzz"}, "context: "},
		{"/v1/tokenize", map[string]any{"model": "deep", "text": "zzz"}, "text: "},
		{"/v1/generate", map[string]any{"model": "deep", "prompt": "zzz"}, "prompt: "},
	} {
		code, v := ts.do(t, "POST", c.path, c.body)
		if msg, _ := v["error"].(string); code != 400 || !strings.Contains(msg, c.says) || !strings.Contains(msg, "zzz") {
			t.Errorf("%s: %d %v", c.path, code, v)
		}
	}
}

// TestQueueFull holds the batcher: past --max-queue requests answer 429
// with Retry-After, and the queued ones complete once it goes on.
func TestQueueFull(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxQueue = 2 })
	release := make(chan struct{})
	ts.setHook(func(string, []string) { <-release })
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			code, _ := ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": "the"})
			codes <- code
		}()
	}
	for ts.models["deep"].inflight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	for _, path := range []string{"/v1/next", "/v1/score", "/v1/generate"} {
		code, b, h := ts.raw(t, "POST", path, map[string]any{"model": "deep", "context": "the", "sentences": []string{"the"}})
		if code != http.StatusTooManyRequests || h.Get("Retry-After") != "1" || !strings.Contains(string(b), "--max-queue") {
			t.Errorf("%s with a full queue: %d %q Retry-After %q", path, code, b, h.Get("Retry-After"))
		}
	}
	ts.healthy(t)
	close(release)
	for range 2 {
		if code := <-codes; code != 200 {
			t.Errorf("queued request: %d", code)
		}
	}
	if q, _ := ts.metric(t, "lstmq_queue_depth"); q != 0 {
		t.Errorf("queue depth %v after the requests", q)
	}
}

// TestRequestTimeout checks that a request past --request-timeout answers
// 504, waiting in the batcher or generating, and that the batcher goes on.
func TestRequestTimeout(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RequestTimeout = 100 * time.Millisecond })
	slow := make(chan struct{})
	ts.setHook(func(string, []string) { <-slow })
	code, v := ts.do(t, "POST", "/v1/score", map[string]any{"model": "deep", "sentences": []string{"the"}})
	if msg, _ := v["error"].(string); code != http.StatusGatewayTimeout || !strings.Contains(msg, "--request-timeout") {
		t.Errorf("held batch: %d %v", code, v)
	}
	close(slow)
	ts.testHook.Store(nil)
	ts.score(t, []string{"the"}, false)
	// Generation checks its context between words: 4096 words of the
	// deep model take about 16 ms on one thread, past a 3 ms timeout.
	ts = newTestServer(t, func(c *Config) { c.RequestTimeout = 3 * time.Millisecond })
	start := time.Now()
	code, _ = ts.do(t, "POST", "/v1/generate", map[string]any{"model": "deep", "words": 4096})
	if d := time.Since(start); code == 200 && d < 3*time.Millisecond {
		t.Skipf("4096 words in %v: too fast to time out", d)
	}
	if code != http.StatusGatewayTimeout {
		t.Errorf("long generate: %d", code)
	}
	// Streamed: the answer has begun, so it ends with an error line.
	code, b, _ := ts.raw(t, "POST", "/v1/generate", map[string]any{"model": "deep", "words": 4096, "stream": true})
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if last := lines[len(lines)-1]; code != 200 || len(lines) < 2 || !strings.Contains(last, `{"error":"the request took longer than 3ms`) {
		t.Errorf("long streamed generate: %d, %d lines, last %s", code, len(lines), last)
	}
	ts.healthy(t)
}

// TestPanic checks that a panicking handler answers 500 {"error"}, logs
// one line with the stack, and that the server goes on.
func TestPanic(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.mux.HandleFunc("POST /v1/test-panic", func(http.ResponseWriter, *http.Request) { panic("test panic") })
	code, v := ts.do(t, "POST", "/v1/test-panic", `{}`)
	if code != http.StatusInternalServerError || v["error"] != "internal error" {
		t.Errorf("%d %v", code, v)
	}
	if log := ts.log.String(); !strings.Contains(log, `msg=panic`) || !strings.Contains(log, `panic="test panic"`) || !strings.Contains(log, "goroutine") {
		t.Errorf("log:\n%s", log)
	}
	ts.healthy(t)
	ts.score(t, []string{"the"}, false)
}

// TestAuth checks --api-key: without the key (or with a wrong one) every
// /v1 route answers 401, with it they work, and /healthz, /readyz and
// /metrics stay open. Without a key set, nothing is asked.
func TestAuth(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.APIKey = "s3cret" })
	routes := []struct{ method, path string }{{"POST", "/v1/score"}, {"POST", "/v1/next"}, {"POST", "/v1/generate"},
		{"POST", "/v1/tokenize"}, {"POST", "/v1/sessions"}, {"POST", "/v1/sessions/x/feed"}, {"POST", "/v1/sessions/x/fork"},
		{"DELETE", "/v1/sessions/x"}, {"GET", "/v1/models"}, {"GET", "/v1/nothing"}}
	body := map[string]any{"model": "deep", "sentences": []string{"the"}, "context": "the", "text": "the", "words": 2}
	for _, r := range routes {
		for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}, {"Authorization", "Basic s3cret"}} {
			code, b, hd := ts.raw(t, r.method, r.path, body, h...)
			if code != http.StatusUnauthorized || !strings.Contains(string(b), `"error"`) || hd.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with %v: %d %s", r.method, r.path, h, code, b)
			}
		}
		code, b, _ := ts.raw(t, r.method, r.path, body, "Authorization", "Bearer s3cret")
		if code == http.StatusUnauthorized {
			t.Errorf("%s %s with the key: %d %s", r.method, r.path, code, b)
		}
	}
	if code, _, _ := ts.raw(t, "POST", "/v1/score", body, "Authorization", "bearer s3cret"); code != 200 {
		t.Errorf("lower-case scheme: %d", code)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _, _ := ts.raw(t, "GET", p, nil); code != 200 {
			t.Errorf("%s without the key: %d", p, code)
		}
	}
	open := newTestServer(t, nil)
	if code, _, _ := open.raw(t, "POST", "/v1/score", body); code != 200 {
		t.Errorf("no key set: %d", code)
	}
}

// TestReadiness checks that /readyz answers 503 while a model loads, that
// requests for it wait for it, and that /healthz answers meanwhile.
func TestReadiness(t *testing.T) {
	ts := startServer(t, DefaultConfig(), nil)
	s := ts.Server
	if code, v := ts.do(t, "GET", "/readyz", nil); code != http.StatusServiceUnavailable || !strings.Contains(v["error"].(string), "loading") {
		t.Errorf("/readyz while loading: %d %v", code, v)
	}
	ts.healthy(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		code, v := ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": "the"})
		if code != 200 {
			t.Errorf("next sent while loading: %d %v", code, v)
		}
	})
	time.Sleep(50 * time.Millisecond)
	if err := s.Load("deep", openDeep(t, 16), time.Second); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if code, _ := ts.do(t, "GET", "/readyz", nil); code != 200 {
		t.Errorf("/readyz once loaded: %d", code)
	}
	if v, _ := ts.metric(t, "lstmq_model_load_seconds"); v != 1 {
		t.Errorf("lstmq_model_load_seconds %v", v)
	}
}
