package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveReal runs a server on the deep model through Serve on a loopback
// listener, so that the http.Server timeouts apply. stop cancels Serve's
// context; done yields what Serve returned.
func serveReal(t *testing.T, edit func(*Config)) (ts *testServer, stop func(), done <-chan error) {
	t.Helper()
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	ts = newServer(t, cfg, openDeep(t, cfg.MaxBatch))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	errc, finished := make(chan error, 1), make(chan struct{})
	go func() {
		errc <- ts.Serve(ctx, ln)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return ts, cancel, errc
}

// waitLog waits up to 5 s for the server's log to contain s.
func (ts *testServer) waitLog(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(ts.log.String(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", s, ts.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDisconnectMidStream reads two words of a long stream and hangs up:
// generation must stop soon after (the request's context), the request
// is logged as 499, and the model's queue slot comes back.
func TestDisconnectMidStream(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.setHook(func(kind string, _ []string) {
		if kind == "word" {
			time.Sleep(2 * time.Millisecond)
		}
	})
	body := strings.NewReader(`{"model": "deep", "words": 4000, "stream": true}`)
	resp, err := http.Post(ts.url+"/v1/generate", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for range 2 {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, `{"word":`) {
			t.Fatalf("%q %v", line, err)
		}
	}
	resp.Body.Close() // an unread body: the connection is closed
	ts.waitLog(t, "status=499")
	if n, _ := ts.metric(t, "lstmq_words_generated_total"); n > 1000 {
		t.Errorf("%v words generated after the client left at 2", n)
	}
	ts.waitQueueEmpty(t)
	ts.healthy(t)
}

// TestDisconnectWhileQueued cancels a request waiting behind a held
// batch: the batcher must skip it (never run its sentences) and free its
// slot.
func TestDisconnectWhileQueued(t *testing.T) {
	ts := newTestServer(t, nil)
	release := make(chan struct{})
	ts.setHook(func(string, []string) { <-release })
	first := make(chan int)
	go func() {
		code, _ := ts.do(t, "POST", "/v1/score", map[string]any{"model": "deep", "sentences": []string{"the"}})
		first <- code
	}()
	for ts.models["deep"].inflight.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.url+"/v1/score", strings.NewReader(`{"model": "deep", "sentences": ["plol plol", "the"]}`))
	gone := make(chan error)
	go func() {
		_, err := http.DefaultClient.Do(req)
		gone <- err
	}()
	for ts.models["deep"].inflight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
	ts.waitLog(t, "status=499")
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("first request: %d", code)
	}
	if _, rows := ts.batchRows(t); rows != 1 {
		t.Errorf("%v rows scored: the cancelled request ran", rows)
	}
	ts.waitQueueEmpty(t)
}

// waitQueueEmpty waits up to 5 s for the model's queue to be empty (the
// batcher frees a cancelled request's slot when it reaches it).
func (ts *testServer) waitQueueEmpty(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		q, _ := ts.metric(t, "lstmq_queue_depth")
		if q == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %v", q)
		}
	}
}

// TestSlowClients checks the http.Server timeouts: a client that sends
// half its headers is cut off after ReadHeaderTimeout, an idle keep-alive
// connection after IdleTimeout, and the server answers others meanwhile.
func TestSlowClients(t *testing.T) {
	ts, _, _ := serveReal(t, func(c *Config) {
		c.ReadHeaderTimeout = 200 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	addr := strings.TrimPrefix(ts.url, "http://")
	closedAfter := func(first string) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if _, err := io.WriteString(c, first); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil { // until the server closes
			t.Fatalf("the server did not close the connection: %v", err)
		}
		return time.Since(start)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if d := closedAfter("POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-"); d < 150*time.Millisecond || d > 3*time.Second {
			t.Errorf("slow headers: closed after %v, want about 200ms", d)
		}
	})
	wg.Go(func() {
		if d := closedAfter("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); d < 250*time.Millisecond || d > 3*time.Second {
			t.Errorf("idle connection: closed after %v, want about 300ms", d)
		}
	})
	time.Sleep(50 * time.Millisecond)
	ts.healthy(t)
	wg.Wait()
}

// TestShutdownUnderLoad stops Serve while 16 clients send score, next,
// streamed generate and session requests, some held in the batcher: Serve
// must return nil within the shutdown timeout, every request the server
// took (each logs one line) must have reached its client complete, and
// the rest must have failed without an answer (refused connections).
func TestShutdownUnderLoad(t *testing.T) {
	ts, stop, done := serveReal(t, func(c *Config) { c.ShutdownTimeout = 10 * time.Second })
	ts.setHook(func(kind string, _ []string) {
		if kind != "word" {
			time.Sleep(10 * time.Millisecond)
		}
	})
	var complete, failed, lateComplete atomic.Int64
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			var session string
			for n := 0; ; n++ {
				before := stopped.Load()
				err := oneRequest(client, ts.url, (i+n)%4, &session)
				if err != nil {
					var ae *answerError
					if errors.As(err, &ae) {
						t.Errorf("client %d: an answer that is not complete: %v", i, err)
					}
					failed.Add(1)
					if stopped.Load() {
						return
					}
					continue
				}
				complete.Add(1)
				if !before && stopped.Load() {
					lateComplete.Add(1)
				}
			}
		})
	}
	time.Sleep(400 * time.Millisecond)
	start := time.Now()
	stopped.Store(true)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
	}
	t.Logf("Serve returned %v after the stop", time.Since(start))
	wg.Wait()
	served, _ := ts.metric(t, "lstmq_http_requests_total")
	t.Logf("%d complete answers (%d finished after the stop), %d requests failed without one; the server logged %v",
		complete.Load(), lateComplete.Load(), failed.Load(), served)
	if float64(complete.Load()) != served {
		t.Errorf("the server answered %v requests, the clients got %d complete answers", served, complete.Load())
	}
	if complete.Load() == 0 || lateComplete.Load() == 0 {
		t.Errorf("no request in flight at the stop: the test proves nothing")
	}
}

// answerError is an answer that arrived incomplete or wrong.
type answerError struct{ msg string }

func (e *answerError) Error() string { return e.msg }

// oneRequest sends one request of a kind and checks its answer is whole:
// an error without an answer is returned as is, a bad answer as an
// *answerError.
func oneRequest(client *http.Client, url string, kind int, session *string) error {
	path, body := "/v1/score", `{"model": "deep", "sentences": ["the plol", "the"]}`
	switch kind {
	case 1:
		path, body = "/v1/next", `{"model": "deep", "context": "the", "k": 3}`
	case 2:
		path, body = "/v1/generate", `{"model": "deep", "words": 30, "stream": true}`
	case 3:
		if *session == "" {
			path, body = "/v1/sessions", `{"model": "deep"}`
		} else {
			path, body = "/v1/sessions/"+*session+"/feed", `{"text": "the", "k": 2}`
		}
	}
	resp, err := client.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return &answerError{fmt.Sprintf("%s: status %d, body cut after %d bytes: %v", path, resp.StatusCode, len(b), err)}
	case resp.StatusCode != http.StatusOK:
		return &answerError{fmt.Sprintf("%s: status %d: %s", path, resp.StatusCode, b)}
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			return &answerError{fmt.Sprintf("%s: not JSON: %q", path, l)}
		}
		if id, ok := v["id"].(string); ok && kind == 3 {
			*session = id
		}
	}
	if kind == 2 && (len(lines) != 31 || !strings.HasPrefix(lines[30], `{"done":true`)) {
		return &answerError{fmt.Sprintf("stream of %d lines, last %q", len(lines), lines[len(lines)-1])}
	}
	return nil
}
