package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lstmq/lstmq"
)

func (ts *testServer) newSession(t *testing.T) string {
	t.Helper()
	code, v := ts.do(t, "POST", "/v1/sessions", map[string]any{"model": "deep"})
	if code != http.StatusOK {
		t.Fatalf("new session: %d %v", code, v)
	}
	return v["id"].(string)
}

func (ts *testServer) feed(t *testing.T, id, text string, k int) (int, map[string]any) {
	t.Helper()
	return ts.do(t, "POST", "/v1/sessions/"+id+"/feed", map[string]any{"text": text, "k": k})
}

// TestSessionFork checks that a fork starts with its parent's state and
// then goes its own way: each equals a library session fed the same
// words, whatever the other is fed, and a fork outlives its parent.
func TestSessionFork(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := context.Background()
	a := ts.newSession(t)
	ts.feed(t, a, "the plol", 0)
	_, v := ts.do(t, "POST", "/v1/sessions/"+a+"/fork", nil)
	b := v["id"].(string)
	if b == a || b == "" {
		t.Fatalf("fork id %q", b)
	}
	want := func(texts ...string) []lstmq.Candidate {
		s := ts.m.NewSession()
		for _, x := range texts {
			if err := s.Feed(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		return s.Next(5)
	}
	_, va := ts.feed(t, a, "risdiren", 5)
	_, vb := ts.feed(t, b, "the the", 5)
	checkCandidates(t, va["candidates"], want("the plol", "risdiren"), 1e-9)
	checkCandidates(t, vb["candidates"], want("the plol", "the the"), 1e-9)
	ts.do(t, "DELETE", "/v1/sessions/"+a, nil)
	_, vb = ts.feed(t, b, ".", 5)
	checkCandidates(t, vb["candidates"], want("the plol", "the the", "."), 1e-9)
}

// TestSessionSerial feeds one session from many clients at once: the
// feeds run one at a time, so the state is the one after all of them.
func TestSessionSerial(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.newSession(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if code, v := ts.feed(t, id, "the", 0); code != 200 {
				t.Errorf("%d %v", code, v)
			}
		})
	}
	wg.Wait()
	_, v := ts.feed(t, id, "", 3)
	s := ts.m.NewSession()
	s.Feed(context.Background(), strings.Repeat("the ", 10))
	checkCandidates(t, v["candidates"], s.Next(3), 1e-9)
}

// TestMaxSessions checks the cap: past --max-sessions, creating or
// forking answers 429; deleting one makes room.
func TestMaxSessions(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxSessions = 3 })
	ids := []string{ts.newSession(t), ts.newSession(t), ts.newSession(t)}
	code, b, h := ts.raw(t, "POST", "/v1/sessions", map[string]any{"model": "deep"})
	if code != http.StatusTooManyRequests || !strings.Contains(string(b), "--max-sessions") || h.Get("Retry-After") == "" {
		t.Errorf("4th session: %d %s", code, b)
	}
	if code, _ := ts.do(t, "POST", "/v1/sessions/"+ids[0]+"/fork", nil); code != http.StatusTooManyRequests {
		t.Errorf("fork past the cap: %d", code)
	}
	ts.healthy(t)
	ts.do(t, "DELETE", "/v1/sessions/"+ids[1], nil)
	ts.newSession(t)
	if v, _ := ts.metric(t, "lstmq_sessions_active"); v != 3 {
		t.Errorf("lstmq_sessions_active %v", v)
	}
}

// TestSessionExpiry checks that a session idle past --session-idle is
// gone (404) and counted, while one in use stays.
func TestSessionExpiry(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.SessionIdle = 150 * time.Millisecond })
	idle, used := ts.newSession(t), ts.newSession(t)
	for range 6 {
		time.Sleep(50 * time.Millisecond)
		if code, v := ts.feed(t, used, "the", 1); code != 200 {
			t.Fatalf("session in use: %d %v", code, v)
		}
	}
	if code, v := ts.feed(t, idle, "the", 1); code != http.StatusNotFound || !strings.Contains(v["error"].(string), "--session-idle") {
		t.Errorf("idle session: %d %v", code, v)
	}
	if v, _ := ts.metric(t, "lstmq_sessions_expired_total"); v != 1 {
		t.Errorf("lstmq_sessions_expired_total %v", v)
	}
}

// TestIdleSessionsExpire opens 1000 sessions and leaves them: the sweeper
// closes all of them, and the server keeps working.
func TestIdleSessionsExpire(t *testing.T) {
	const n = 1000
	ts := newTestServer(t, func(c *Config) { c.SessionIdle = time.Second; c.MaxSessions = n })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				ts.newSession(t)
			}
		})
	}
	wg.Wait()
	if code, _ := ts.do(t, "POST", "/v1/sessions", map[string]any{"model": "deep"}); code != http.StatusTooManyRequests {
		t.Errorf("session %d: %d", n+1, code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		active, _ := ts.metric(t, "lstmq_sessions_active")
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v sessions still open", active)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, _ := ts.metric(t, "lstmq_sessions_expired_total"); v != n {
		t.Errorf("lstmq_sessions_expired_total %v", v)
	}
	ts.sessions.mu.Lock()
	left := len(ts.sessions.m)
	ts.sessions.mu.Unlock()
	if left != 0 {
		t.Errorf("%d sessions in the map", left)
	}
	id := ts.newSession(t)
	if code, _ := ts.feed(t, id, "the", 2); code != 200 {
		t.Errorf("a new session after the expiry: %d", code)
	}
}
