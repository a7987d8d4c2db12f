package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"unicode/utf8"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/corpus"
)

// decode reads r's JSON body into dst, a pointer to a struct. Every
// failure is a 400 naming the offset or the field, or a 413 past
// MaxBody. Invalid UTF-8 is refused before decoding (encoding/json would
// turn it into U+FFFD).
func decode(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return err
		}
		return errorf(http.StatusBadRequest, "reading the body: %v", err)
	}
	if !utf8.Valid(body) {
		_, err := corpus.Split(string(body)) // names the first bad byte and its offset
		return errorf(http.StatusBadRequest, "the body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "empty body: want a JSON object")
	}
	err = json.Unmarshal(body, dst)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "invalid JSON at offset %d: %v", se.Offset, err)
	case errors.As(err, &te) && te.Field == "":
		return errorf(http.StatusBadRequest, "the body must be a JSON object, got %s", te.Value)
	case errors.As(err, &te):
		return errorf(http.StatusBadRequest, "field %q: want %s, got %s", te.Field, typeName(dst, te), te.Value)
	}
	return errorf(http.StatusBadRequest, "invalid JSON: %v", err)
}

// typeName says in words what te's field should have been.
func typeName(dst any, te *json.UnmarshalTypeError) string {
	t := te.Type
	if f, ok := fieldByTag(reflect.TypeOf(dst).Elem(), te.Field); ok {
		t = f
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
	}
	return t.String()
}

func fieldByTag(t reflect.Type, tag string) (reflect.Type, bool) {
	for f := range t.Fields() {
		if f.Tag.Get("json") == tag {
			return f.Type, true
		}
	}
	return nil, false
}

func missing(field string) error { return errorf(http.StatusBadRequest, "missing field %q", field) }

// texts checks the texts of field against the word limit (413) and the
// vocabulary (400), naming the text at fault, and returns their words.
func (s *Server) texts(sv *served, field string, texts []string, indexed bool) (words int, err error) {
	name := func(i int) string {
		if indexed {
			return fmt.Sprintf("%s[%d]", field, i)
		}
		return field
	}
	for i, t := range texts {
		ws, err := corpus.Split(t)
		if err != nil {
			return 0, errorf(http.StatusBadRequest, "%s: %v", name(i), err)
		}
		if words += len(ws); words > s.cfg.MaxWords {
			return 0, errorf(http.StatusRequestEntityTooLarge, "more than %d words in the request, the limit (--max-words)", s.cfg.MaxWords)
		}
	}
	for i, t := range texts {
		if _, err := sv.m.Tokenize(t); err != nil {
			return 0, errorf(statusOf(err), "%s: %v", name(i), err)
		}
	}
	return words, nil
}

// checkK checks a request's k: 0..MaxK, or 1.. when positive is set.
func (s *Server) checkK(k int, positive bool) error {
	switch {
	case k < 0 || (positive && k == 0):
		return errorf(http.StatusBadRequest, "field \"k\": want an integer >= 1, got %d", k)
	case k > s.cfg.MaxK:
		return errorf(http.StatusRequestEntityTooLarge, "k = %d, more than the limit of %d", k, s.cfg.MaxK)
	}
	return nil
}

type candidate struct {
	Word string `json:"word"`
	ID   int32  `json:"id"`
	Prob number `json:"prob"`
}

func candidates(cs []lstmq.Candidate) []candidate {
	out := make([]candidate, len(cs))
	for i, c := range cs {
		out[i] = candidate{c.Word, c.ID, number(c.Prob)}
	}
	return out
}

type scoreResult struct {
	LogProb number      `json:"logprob"`
	Tokens  int         `json:"tokens"`
	OOV     int         `json:"oov"`
	PPL     number      `json:"ppl"`
	Words   []wordScore `json:"words,omitempty"`
}

type wordScore struct {
	Word    string `json:"word"`
	ID      int32  `json:"id"`
	LogProb number `json:"logprob"`
	Unknown bool   `json:"unknown"`
}

// score answers POST /v1/score {"model", "sentences", "per_token"} with
// {"results": [{"logprob", "tokens", "oov", "ppl", "words"?}]}.
func (s *Server) score(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model     *string   `json:"model"`
		Sentences *[]string `json:"sentences"`
		PerToken  bool      `json:"per_token"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	switch {
	case req.Model == nil:
		return missing("model")
	case req.Sentences == nil:
		return missing("sentences")
	case len(*req.Sentences) > s.cfg.MaxSentences:
		return errorf(http.StatusRequestEntityTooLarge, "%d sentences, more than the limit of %d (--max-sentences)", len(*req.Sentences), s.cfg.MaxSentences)
	}
	sv, err := s.model(r, *req.Model)
	if err != nil {
		return err
	}
	sents := *req.Sentences
	words, err := s.texts(sv, "sentences", sents, true)
	if err != nil {
		return err
	}
	res := []lstmq.SentenceScore{}
	if len(sents) > 0 {
		j := &job{kind: "score", texts: sents}
		if j.release, err = s.admit(sv); err != nil {
			return err
		}
		if err := sv.b.do(r.Context(), j); err != nil {
			return err
		}
		res = j.score
	}
	out := make([]scoreResult, len(res))
	for i, sc := range res {
		out[i] = scoreResult{LogProb: number(sc.LogProb), Tokens: len(sc.Tokens), OOV: sc.OOV, PPL: number(sc.Perplexity())}
		if req.PerToken {
			out[i].Words = make([]wordScore, len(sc.Tokens))
			for k, t := range sc.Tokens {
				out[i].Words[k] = wordScore{t.Word, t.ID, number(t.LogProb), t.Unknown}
			}
		}
	}
	s.met.sentences.WithLabelValues(sv.name).Add(float64(len(sents)))
	s.met.words.WithLabelValues(sv.name).Add(float64(words))
	writeJSON(w, http.StatusOK, struct {
		Results []scoreResult `json:"results"`
	}{out})
	return nil
}

// next answers POST /v1/next {"model", "context", "k"} with
// {"candidates": [{"word", "id", "prob"}]}, most likely first.
func (s *Server) next(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model   *string `json:"model"`
		Context *string `json:"context"`
		K       *int    `json:"k"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	k := 5
	if req.K != nil {
		k = *req.K
	}
	switch {
	case req.Model == nil:
		return missing("model")
	case req.Context == nil:
		return missing("context")
	}
	if err := s.checkK(k, true); err != nil {
		return err
	}
	sv, err := s.model(r, *req.Model)
	if err != nil {
		return err
	}
	if _, err := s.texts(sv, "context", []string{*req.Context}, false); err != nil {
		return err
	}
	j := &job{kind: "next", texts: []string{*req.Context}, k: k}
	if j.release, err = s.admit(sv); err != nil {
		return err
	}
	if err := sv.b.do(r.Context(), j); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Candidates []candidate `json:"candidates"`
	}{candidates(j.next)})
	return nil
}

// tokenize answers POST /v1/tokenize {"model", "text"} with
// {"tokens": [{"word", "id", "unknown"}]}.
func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model *string `json:"model"`
		Text  *string `json:"text"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	switch {
	case req.Model == nil:
		return missing("model")
	case req.Text == nil:
		return missing("text")
	}
	sv, err := s.model(r, *req.Model)
	if err != nil {
		return err
	}
	if _, err := s.texts(sv, "text", []string{*req.Text}, false); err != nil {
		return err
	}
	toks, err := sv.m.Tokenize(*req.Text)
	if err != nil {
		return err
	}
	type token struct {
		Word    string `json:"word"`
		ID      int32  `json:"id"`
		Unknown bool   `json:"unknown"`
	}
	out := make([]token, len(toks))
	for i, t := range toks {
		out[i] = token{t.Word, t.ID, t.Unknown}
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []token `json:"tokens"`
	}{out})
	return nil
}

// defaultGenerateWords is how many words /v1/generate draws without
// "words" (at most MaxWords).
const defaultGenerateWords = 50

// generate answers POST /v1/generate {"model", "prompt", "words",
// "temperature", "top_k", "top_p", "seed", "stream"}: {"text", "words",
// "seed"}, or with "stream" NDJSON lines {"word"} as the words are drawn,
// then {"done": true, "words", "seed"} (or {"error"} if it fails midway).
func (s *Server) generate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model       *string  `json:"model"`
		Prompt      string   `json:"prompt"`
		Words       *int     `json:"words"`
		Temperature *float64 `json:"temperature"`
		TopK        int      `json:"top_k"`
		TopP        float64  `json:"top_p"`
		Seed        *uint64  `json:"seed"`
		Stream      bool     `json:"stream"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Model == nil {
		return missing("model")
	}
	opts := lstmq.GenerateOptions{Prompt: req.Prompt, Words: min(defaultGenerateWords, s.cfg.MaxWords), Temperature: 1, TopK: req.TopK, TopP: req.TopP}
	if req.Words != nil {
		opts.Words = *req.Words
	}
	if req.Temperature != nil {
		opts.Temperature = *req.Temperature
	}
	if req.Seed != nil {
		opts.Seed = *req.Seed
	} else {
		opts.Seed = rand.Uint64()
	}
	switch {
	case opts.Words < 0:
		return errorf(http.StatusBadRequest, "field \"words\": want an integer >= 0, got %d", opts.Words)
	case opts.Words > s.cfg.MaxWords:
		return errorf(http.StatusRequestEntityTooLarge, "words = %d, more than the limit of %d (--max-words)", opts.Words, s.cfg.MaxWords)
	case opts.Temperature < 0:
		return errorf(http.StatusBadRequest, "field \"temperature\": want a number >= 0, got %v", opts.Temperature)
	case opts.TopK < 0:
		return errorf(http.StatusBadRequest, "field \"top_k\": want an integer >= 0, got %d", opts.TopK)
	case opts.TopP < 0 || opts.TopP > 1:
		return errorf(http.StatusBadRequest, "field \"top_p\": want a number in [0, 1], got %v", opts.TopP)
	}
	if opts.Temperature == 0 { // the limit of a colder and colder softmax: the most likely word
		opts.Temperature, opts.TopK = 1, 1
	}
	sv, err := s.model(r, *req.Model)
	if err != nil {
		return err
	}
	if _, err := s.texts(sv, "prompt", []string{req.Prompt}, false); err != nil {
		return err
	}
	release, err := s.admit(sv)
	if err != nil {
		return err
	}
	defer release()
	sess, _ := sv.sessions.Get().(*lstmq.Session)
	if sess == nil {
		sess = sv.m.NewSession()
	}
	defer func() {
		sess.Reset()
		sv.sessions.Put(sess)
	}()
	n := 0
	var st *stream
	if req.Stream {
		st = newStream(w)
	}
	opts.OnWord = func(word string) error {
		n++
		s.hook("word", []string{word})
		if st == nil {
			return nil
		}
		if err := r.Context().Err(); err != nil {
			return err
		}
		return st.line(struct {
			Word string `json:"word"`
		}{word})
	}
	text, err := sess.Generate(r.Context(), opts)
	s.met.generated.WithLabelValues(sv.name).Add(float64(n))
	if st == nil {
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, struct {
			Text  string `json:"text"`
			Words int    `json:"words"`
			Seed  uint64 `json:"seed"`
		}{text, n, opts.Seed})
		return nil
	}
	if err != nil && !st.started {
		return err // nothing streamed yet: a plain error answer
	}
	if err != nil {
		code := statusOf(err)
		infoOf(r).err = err
		if code == statusClientClosed {
			infoOf(r).status = code
			return nil
		}
		msg := err.Error()
		if code == http.StatusGatewayTimeout {
			msg = fmt.Sprintf("the request took longer than %v (--request-timeout)", s.cfg.RequestTimeout)
		}
		st.line(errorBody{msg})
		return nil
	}
	st.line(struct {
		Done  bool   `json:"done"`
		Words int    `json:"words"`
		Seed  uint64 `json:"seed"`
	}{true, n, opts.Seed})
	return nil
}

// stream writes NDJSON lines, flushing each.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{w: w, rc: http.NewResponseController(w)}
}

func (st *stream) line(v any) error {
	if !st.started {
		st.w.Header().Set("Content-Type", "application/x-ndjson")
		st.w.Header().Set("X-Content-Type-Options", "nosniff")
		st.w.WriteHeader(http.StatusOK)
		st.started = true
	}
	b, err := jsonLine(v)
	if err != nil {
		return err
	}
	if _, err := st.w.Write(b); err != nil {
		return err
	}
	return st.rc.Flush()
}

// listModels answers GET /v1/models with {"models": [{"name", "ready",
// "scheme", "tokens", "threads"}]}.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	type model struct {
		Name    string `json:"name"`
		Ready   bool   `json:"ready"`
		Scheme  string `json:"scheme,omitempty"`
		Tokens  int    `json:"tokens,omitempty"`
		Threads int    `json:"threads,omitempty"`
	}
	out := make([]model, 0, len(s.names))
	for _, n := range s.names {
		sv := s.models[n]
		select {
		case <-sv.loaded:
			out = append(out, model{n, true, sv.m.Scheme(), sv.m.Tokens(), sv.m.Threads()})
		default:
			out = append(out, model{Name: n})
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Models []model `json:"models"`
	}{out})
	return nil
}
