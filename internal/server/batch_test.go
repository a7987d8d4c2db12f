package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"
)

// holdFirstBatch makes the batcher's first call wait until n requests
// are admitted to the model, so that the next rounds find them queued.
func holdFirstBatch(ts *testServer, n int) {
	var once sync.Once
	ts.setHook(func(string, []string) {
		once.Do(func() {
			for ts.models["deep"].inflight.Load() < int64(n) {
				time.Sleep(time.Millisecond)
			}
		})
	})
}

// batchRows returns the number of batched calls and their rows so far.
func (ts *testServer) batchRows(t *testing.T) (calls, rows float64) {
	return ts.metric(t, "lstmq_batch_rows")
}

// TestBatchingEqualsSequential sends score requests of 1 to 5 sentences
// and next requests at once, with the first batch held until all are
// queued: the batch-size histogram must show batches of many rows, and
// every answer must equal the library's on that request alone, in fp32
// within 1e-5 (the library's promise for batched against one at a time;
// 0 on the fixtures), candidates in the same order.
func TestBatchingEqualsSequential(t *testing.T) {
	texts, _ := goldenSentences(t)
	ts := newTestServer(t, func(c *Config) { c.MaxBatch = 16 })
	type request struct {
		sentences []string // score
		context   string   // next, if sentences is nil
	}
	var reqs []request
	for i := 0; len(reqs) < 30; i++ {
		n := 1 + i%5
		lo := (i * 3) % (len(texts) - n)
		reqs = append(reqs, request{sentences: texts[lo : lo+n]})
		reqs = append(reqs, request{context: texts[(i*7)%len(texts)]})
	}
	holdFirstBatch(ts, len(reqs))
	answers := make([]any, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			if r.sentences != nil {
				answers[i] = ts.score(t, r.sentences, true)
				return
			}
			code, v := ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": r.context, "k": 3 + i%4})
			if code != http.StatusOK {
				t.Errorf("next: %d %v", code, v)
			}
			answers[i] = v["candidates"]
		})
	}
	wg.Wait()
	calls, rows := ts.batchRows(t)
	t.Logf("%d requests in %v batched calls of %v rows", len(reqs), calls, rows)
	if calls > float64(len(reqs))/2 {
		t.Errorf("%d requests ran in %v calls: not batched", len(reqs), calls)
	}
	ctx := context.Background()
	for i, r := range reqs {
		s := openDeep(t, 1).NewSession() // one at a time
		if r.sentences == nil {
			if err := s.Feed(ctx, r.context); err != nil {
				t.Fatal(err)
			}
			checkCandidates(t, answers[i], s.Next(3+i%4), 1e-5)
			continue
		}
		want, err := s.Score(ctx, r.sentences)
		if err != nil {
			t.Fatal(err)
		}
		got := answers[i].(scoreAnswer)
		for j, res := range got.Results {
			if math.Abs(res.LogProb-want[j].LogProb) > 1e-5 || len(res.Words) != len(want[j].Tokens) {
				t.Errorf("request %d sentence %d: %v, alone %v", i, j, res.LogProb, want[j].LogProb)
			}
			for k, w := range res.Words {
				if w.Word != want[j].Tokens[k].Word {
					t.Fatalf("request %d sentence %d: word %d is %q, want %q: reordered", i, j, k, w.Word, want[j].Tokens[k].Word)
				}
			}
		}
	}
}

// TestBatchDelay checks the batcher's waiting: a lone client never waits
// for BatchDelay, and after a round of n requests the next one waits for
// n (here 8 clients sent together, gathered into one call).
func TestBatchDelay(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.BatchDelay = 400 * time.Millisecond })
	start := time.Now()
	for range 5 {
		ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": "the"})
	}
	if d := time.Since(start); d > time.Second { // 5 waits would be 2 s
		t.Errorf("5 sequential requests took %v: the lone client waited", d)
	}
	burst := func() {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				ts.do(t, "POST", "/v1/next", map[string]any{"model": "deep", "context": fmt.Sprint("the ", i)})
			})
		}
		wg.Wait()
	}
	holdFirstBatch(ts, 8) // the first burst: held, so 1 + 7
	burst()
	calls0, rows0 := ts.batchRows(t)
	ts.testHook.Store(nil)
	burst() // prev = 7: waits for them
	calls, rows := ts.batchRows(t)
	if calls-calls0 > 2 || rows-rows0 != 8 {
		t.Errorf("8 concurrent requests after a round of 7 ran in %v calls", calls-calls0)
	}
}

// TestMaxBatchOne checks that --max-batch 1 turns batching off: every
// call has one row, and a request of many sentences still answers them
// all, in order.
func TestMaxBatchOne(t *testing.T) {
	texts, want := goldenSentences(t)
	ts := newTestServer(t, func(c *Config) { c.MaxBatch = 1 })
	holdFirstBatch(ts, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			got := ts.score(t, texts[i*3:i*3+3], false)
			for j, r := range got.Results {
				if math.Abs(r.LogProb-want[i*3+j]) > 1e-4 {
					t.Errorf("sentence %d: %v, PyTorch %v", i*3+j, r.LogProb, want[i*3+j])
				}
			}
		})
	}
	wg.Wait()
	if calls, rows := ts.batchRows(t); calls != rows || calls != 12 {
		t.Errorf("%v calls of %v rows, want 12 of 1", calls, rows)
	}
}

// TestBatchIsolation checks that a request failing inside a batch fails
// alone: a panic on one sentence answers 500 to its request and 200 to
// the others of its batch.
func TestBatchIsolation(t *testing.T) {
	ts := newTestServer(t, nil)
	var once sync.Once
	ts.setHook(func(kind string, texts []string) {
		once.Do(func() {
			for ts.models["deep"].inflight.Load() < 4 {
				time.Sleep(time.Millisecond)
			}
		})
		for _, x := range texts {
			if x == "boom" {
				panic("test panic")
			}
		}
	})
	codes := make([]int, 4)
	var wg sync.WaitGroup
	for i, s := range []string{"the", "boom", "plol", "the the"} {
		wg.Go(func() {
			codes[i], _ = ts.do(t, "POST", "/v1/score", map[string]any{"model": "deep", "sentences": []string{s}})
		})
	}
	wg.Wait()
	if codes[1] != http.StatusInternalServerError || codes[0] != 200 || codes[2] != 200 || codes[3] != 200 {
		t.Errorf("codes %v, want 500 for the panicking request only", codes)
	}
	ts.healthy(t)
	ts.testHook.Store(nil)
	ts.score(t, []string{"the"}, false) // the batcher goes on
}

// BenchmarkNext compares the in-process Feed+Next with /v1/next over
// loopback HTTP (one client: the batcher must not wait).
func BenchmarkNext(b *testing.B) {
	ts := newTestServer(b, nil)
	b.Run("in-process", func(b *testing.B) {
		s := ts.m.NewSession()
		for b.Loop() {
			s.Reset()
			s.Feed(context.Background(), "the cat sat on the")
			s.Next(5)
		}
	})
	b.Run("http", func(b *testing.B) {
		for b.Loop() {
			ts.raw(b, "POST", "/v1/next", `{"model":"deep","context":"the cat sat on the","k":5}`)
		}
	})
}
