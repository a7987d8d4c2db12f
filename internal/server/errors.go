package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/lstmq/lstmq"
)

// statusClientClosed is what the request log and metrics record for a
// request whose client went away before its answer (nginx's 499); the
// client is not sent anything.
const statusClientClosed = 499

// httpError is an error with the status code it answers with.
type httpError struct {
	code       int
	msg        string
	retryAfter int // seconds, for 429 and 503; 0: no Retry-After
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, a ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, a...)}
}

// busy is a 429 with Retry-After.
func busy(format string, a ...any) *httpError {
	e := errorf(http.StatusTooManyRequests, format, a...)
	e.retryAfter = 1
	return e
}

// statusOf returns the status code err answers with: its own for an
// httpError, 400 for the library's input errors, 504 past the request's
// deadline, 499 when the client went away, 500 otherwise.
func statusOf(err error) int {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return statusClientClosed
	case errors.Is(err, lstmq.ErrInput), errors.Is(err, lstmq.ErrUnknownWord), errors.Is(err, lstmq.ErrOption):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// writeError answers {"error": msg} with err's status code. Nothing is
// written for a client that went away.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	info := infoOf(r)
	info.err = err
	if code == statusClientClosed {
		info.status = code
		return
	}
	msg := err.Error()
	switch {
	case code == http.StatusGatewayTimeout:
		msg = fmt.Sprintf("the request took longer than %v (--request-timeout)", s.cfg.RequestTimeout)
	case code == http.StatusRequestEntityTooLarge && errors.As(err, new(*http.MaxBytesError)):
		msg = fmt.Sprintf("the body is larger than %d bytes (--max-body)", s.cfg.MaxBody)
	case code == http.StatusInternalServerError:
		msg = "internal error: " + msg
	}
	var he *httpError
	if errors.As(err, &he) && he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
	}
	writeJSON(w, code, errorBody{msg})
}

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON answers v as JSON with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := jsonLine(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error: encoding the response"}`+"\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(b)
}

// jsonLine returns v as one line of JSON, "<" and ">" as they are (the
// words <eos> and <unk>).
func jsonLine(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	err := e.Encode(v)
	return b.Bytes(), err
}

// number is a float64 that encodes as JSON null when it is not finite
// (a model whose weights hold NaN), instead of failing the response.
type number float64

func (n number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}
