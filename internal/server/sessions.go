package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lstmq/lstmq"
)

// session is one stateful session: an lstmq.Session that one request at
// a time advances.
type session struct {
	id   string
	sv   *served
	lock chan struct{} // holds a token while a request uses s
	s    *lstmq.Session

	last time.Time // guarded by the store's mu
	busy int       // requests holding or waiting for it, guarded by mu
}

// sessionStore holds the open sessions, closes those idle longer than
// idle (a sweeper every idle/2, at least 10 ms, at most 30 s, and on
// every lookup) and refuses more than max.
type sessionStore struct {
	mu   sync.Mutex
	m    map[string]*session
	max  int
	idle time.Duration
	met  *metrics
	stop chan struct{}
	done chan struct{}
}

func newSessionStore(limit int, idle time.Duration, met *metrics) *sessionStore {
	st := &sessionStore{m: map[string]*session{}, max: limit, idle: idle, met: met,
		stop: make(chan struct{}), done: make(chan struct{})}
	go st.sweeper(min(max(idle/2, 10*time.Millisecond), 30*time.Second))
	return st
}

func (st *sessionStore) sweeper(every time.Duration) {
	defer close(st.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			st.sweep(time.Now())
		case <-st.stop:
			return
		}
	}
}

func (st *sessionStore) close() {
	close(st.stop)
	<-st.done
}

// sweep closes the sessions idle since before now − idle.
func (st *sessionStore) sweep(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, e := range st.m {
		if st.expired(e, now) {
			st.remove(id)
			st.met.expired.Inc()
		}
	}
}

func (st *sessionStore) expired(e *session, now time.Time) bool {
	return e.busy == 0 && now.Sub(e.last) > st.idle
}

// remove deletes id; st.mu is held.
func (st *sessionStore) remove(id string) {
	delete(st.m, id)
	st.met.sessions.Set(float64(len(st.m)))
}

// add stores a new session of sv holding s, or answers 429 at the cap.
func (st *sessionStore) add(sv *served, s *lstmq.Session) (*session, error) {
	var b [16]byte
	rand.Read(b[:])
	e := &session{id: hex.EncodeToString(b[:]), sv: sv, lock: make(chan struct{}, 1), s: s, last: time.Now()}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= st.max {
		return nil, busy("%d sessions open, the limit (--max-sessions): delete some, or retry once idle ones expire", st.max)
	}
	st.m[e.id] = e
	st.met.sessions.Set(float64(len(st.m)))
	return e, nil
}

// acquire returns the session id for the caller's exclusive use until
// release, waiting for another request on it to finish, or a 404.
func (st *sessionStore) acquire(ctx context.Context, id string) (e *session, release func(), err error) {
	st.mu.Lock()
	e = st.m[id]
	if e != nil && st.expired(e, time.Now()) {
		st.remove(id)
		st.met.expired.Inc()
		e = nil
	}
	if e == nil {
		st.mu.Unlock()
		return nil, nil, errorf(http.StatusNotFound, "unknown session %q (deleted, or idle longer than --session-idle)", id)
	}
	e.busy++
	st.mu.Unlock()
	done := func() {
		st.mu.Lock()
		e.busy--
		e.last = time.Now()
		st.mu.Unlock()
	}
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, nil, ctx.Err()
	}
	return e, func() {
		<-e.lock
		done()
	}, nil
}

// delete closes id; it reports whether it was open.
func (st *sessionStore) delete(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, ok := st.m[id]
	if ok {
		st.remove(id)
	}
	return ok
}

type sessionID struct {
	ID string `json:"id"`
}

// createSession answers POST /v1/sessions {"model"} with {"id"}.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model *string `json:"model"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Model == nil {
		return missing("model")
	}
	sv, err := s.model(r, *req.Model)
	if err != nil {
		return err
	}
	e, err := s.sessions.add(sv, sv.m.NewSession())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionID{e.id})
	return nil
}

// feedSession answers POST /v1/sessions/{id}/feed {"text", "k"}: it
// advances the session through text and returns {"id", "candidates"},
// the k (default 5) most likely next words. A feed cut short by its
// timeout or its client leaves the state unknown, so it closes the
// session.
func (s *Server) feedSession(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Text *string `json:"text"`
		K    *int    `json:"k"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Text == nil {
		return missing("text")
	}
	k := 5
	if req.K != nil {
		k = *req.K
	}
	if err := s.checkK(k, false); err != nil {
		return err
	}
	id := r.PathValue("id")
	e, release, err := s.sessions.acquire(r.Context(), id)
	if err != nil {
		return err
	}
	defer release()
	infoOf(r).model = e.sv.name
	if _, err := s.texts(e.sv, "text", []string{*req.Text}, false); err != nil {
		return err
	}
	done, err := s.admit(e.sv)
	if err != nil {
		return err
	}
	defer done()
	if err := e.s.Feed(r.Context(), *req.Text); err != nil {
		if r.Context().Err() != nil {
			s.sessions.delete(id)
			return fmt.Errorf("session %s closed, its state unknown: %w", id, err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		ID         string      `json:"id"`
		Candidates []candidate `json:"candidates"`
	}{id, candidates(e.s.Next(k))})
	return nil
}

// forkSession answers POST /v1/sessions/{id}/fork with {"id"} of a new
// session holding a copy of the state.
func (s *Server) forkSession(w http.ResponseWriter, r *http.Request) error {
	e, release, err := s.sessions.acquire(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	infoOf(r).model = e.sv.name
	c := e.s.Clone()
	release()
	f, err := s.sessions.add(e.sv, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionID{f.id})
	return nil
}

// deleteSession answers DELETE /v1/sessions/{id} with {"id"}, or 404.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !s.sessions.delete(id) {
		return errorf(http.StatusNotFound, "unknown session %q", id)
	}
	writeJSON(w, http.StatusOK, sessionID{id})
	return nil
}
