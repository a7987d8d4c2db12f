package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/internal/jsonl"
	"github.com/lstmq/lstmq/internal/progress"
)

// maxLine is the longest input line score reads, in bytes.
const maxLine = 8 << 20

// scoreLine is one input line on its way to the output.
type scoreLine struct {
	n     int64                      // line number, from 1
	text  string                     // the sentence
	extra map[string]json.RawMessage // --format jsonl: the other fields
	err   error                      // a bad line (with --skip-bad)
}

func newScoreCmd() *cobra.Command {
	var (
		input, format     string
		perToken, skipBad bool
	)
	c := &cobra.Command{
		Use:   "score --model M --data DIR [--input FILE]",
		Short: "Score sentences, one per line, as JSON lines (log-probabilities under the library's convention)",
		Long: `Score reads sentences, one per line, from --input or standard input and writes one JSON line per
input line, in input order: {"line": n, "logprob": …, "tokens": n+1, "oov": k, "ppl": …}. Each
sentence is scored from the zero state as the continuation of <eos>: the targets are its words
and a final <eos>; a word outside the vocabulary is scored as <unk>. A summary goes to stderr.`,
		Args: cobra.NoArgs,
	}
	lf := addLibFlags(c, lstmq.DefaultBatchSize)
	f := c.Flags()
	f.StringVar(&input, "input", "", "file of sentences, one per line (default: standard input)")
	f.StringVar(&format, "format", "text", "text: a sentence per line; jsonl: a JSON object per line with a \"text\" field, whose other fields are copied to the output")
	f.BoolVar(&perToken, "per-token", false, "add \"words\": [{\"word\", \"logprob\"}, …]")
	f.BoolVar(&skipBad, "skip-bad", false, "write {\"line\": n, \"error\": …} for a bad line and go on, instead of stopping")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if format != "text" && format != "jsonl" {
			return usagef("--format must be text or jsonl, got %q", format)
		}
		if lf.batch < 1 {
			return usagef("--batch-size must be >= 1, got %d", lf.batch)
		}
		m, err := lf.open()
		if err != nil {
			return err
		}
		name, in := "stdin", c.InOrStdin()
		if input != "" {
			fh, err := os.Open(input)
			if err != nil {
				return err
			}
			defer fh.Close()
			name, in = input, fh
		}
		sc := &scorer{m: m, s: m.NewSession(), out: bufio.NewWriterSize(c.OutOrStdout(), 64<<10),
			perToken: perToken, jsonl: format == "jsonl", chunk: 64 * lf.batch}
		if progress.IsTerminal(c.ErrOrStderr()) {
			// Progress only on a terminal: in a pipeline stderr keeps to the
			// summary or the one line of an error.
			sc.bar = progress.New(c.ErrOrStderr(), "score", 0, "sentences")
		}
		start := time.Now()
		err = sc.run(c, name, in, skipBad)
		if sc.bar != nil {
			sc.bar.Done()
		}
		if err != nil {
			return err // one line: the lines before the bad one are written
		}
		sec := time.Since(start).Seconds()
		ppl := math.Exp(-sc.logprob / float64(max(sc.tokens, 1)))
		fmt.Fprintf(c.ErrOrStderr(), "scored %d sentences, %d words (+%d <eos>) in %.2f s: %.1f sentences/s; perplexity %.2f (%s, %d thread(s))\n",
			sc.sentences, sc.tokens-sc.sentences, sc.sentences, sec, float64(sc.sentences)/max(sec, 1e-9), ppl, m.Scheme(), m.Threads())
		return nil
	}
	return c
}

type scorer struct {
	m        *lstmq.Model
	s        *lstmq.Session
	out      *bufio.Writer
	perToken bool
	jsonl    bool
	chunk    int

	sentences, tokens int64
	logprob           float64
	bar               *progress.Bar // nil unless stderr is a terminal
}

// run reads lines, scores them a chunk at a time (memory stays bounded on
// an endless input) and writes them in order.
func (sc *scorer) run(c *cobra.Command, name string, in io.Reader, skipBad bool) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var pending []scoreLine
	flush := func() error {
		if err := sc.score(c, pending); err != nil {
			return err
		}
		pending = pending[:0]
		return sc.out.Flush()
	}
	for n := int64(1); ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		l := scoreLine{n: n}
		if err == nil {
			l.text, l.extra, err = sc.parse(line)
		}
		if err == nil {
			_, err = sc.m.Tokenize(l.text)
		}
		if err != nil {
			if !skipBad {
				if ferr := flush(); ferr != nil {
					return ferr
				}
				return fmt.Errorf("%s: line %d: %w", name, n, err)
			}
			l.err = err
		}
		pending = append(pending, l)
		if len(pending) == sc.chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

var errLongLine = fmt.Errorf("line longer than %d bytes", maxLine)

// readLine returns the next line without its "\n" (a final line without
// one too), io.EOF at the end, or errLongLine (having skipped the line).
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(buf)+len(part) > maxLine {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			return nil, errLongLine
		}
		buf = append(buf, part...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) > 0:
			return buf, nil
		default:
			return nil, err
		}
	}
}

// parse returns the sentence of a line and, for --format jsonl, the
// object's other fields.
func (sc *scorer) parse(line []byte) (string, map[string]json.RawMessage, error) {
	if !sc.jsonl {
		return string(line), nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return "", nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var text string
	raw, ok := obj["text"]
	if !ok {
		return "", nil, errors.New(`no "text" field`)
	}
	if err := json.Unmarshal(raw, &text); err != nil {
		return "", nil, errors.New(`"text" is not a string`)
	}
	delete(obj, "text")
	for _, k := range []string{"line", "logprob", "tokens", "oov", "ppl", "words", "error"} {
		delete(obj, k) // ours win
	}
	return text, obj, nil
}

// score scores the good lines of ls and writes every line of ls in order.
func (sc *scorer) score(c *cobra.Command, ls []scoreLine) error {
	var texts []string
	for _, l := range ls {
		if l.err == nil {
			texts = append(texts, l.text)
		}
	}
	res, err := sc.s.Score(c.Context(), texts)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, l := range ls {
		b.Reset()
		b.WriteString(`{"line":`)
		b.WriteString(strconv.FormatInt(l.n, 10))
		if l.err != nil {
			b.WriteString(`,"error":`)
			jsonl.String(&b, l.err.Error())
		} else {
			r := res[0]
			res = res[1:]
			keys := make([]string, 0, len(l.extra))
			for k := range l.extra {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				b.WriteByte(',')
				jsonl.String(&b, k)
				b.WriteByte(':')
				b.Write(l.extra[k])
			}
			b.WriteString(`,"logprob":`)
			jsonl.Float(&b, r.LogProb)
			fmt.Fprintf(&b, `,"tokens":%d,"oov":%d,"ppl":`, len(r.Tokens), r.OOV)
			jsonl.Float(&b, r.Perplexity())
			if sc.perToken {
				b.WriteString(`,"words":[`)
				for i, t := range r.Tokens {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(`{"word":`)
					jsonl.String(&b, t.Word)
					b.WriteString(`,"logprob":`)
					jsonl.Float(&b, t.LogProb)
					if t.Unknown {
						b.WriteString(`,"unknown":true`)
					}
					b.WriteByte('}')
				}
				b.WriteByte(']')
			}
			sc.sentences++
			if sc.bar != nil {
				sc.bar.Add(1)
			}
			sc.tokens += int64(len(r.Tokens))
			sc.logprob += r.LogProb
		}
		b.WriteString("}\n")
		if _, err := sc.out.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
