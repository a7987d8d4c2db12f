package lmscore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/lstmq/lstmq/internal/jsonl"
)

func init() {
	register.DoFn2x0[Result, func(string, string)](&formatResultFn{})
	register.DoFn2x0[Failure, func(string, string)](&formatFailureFn{})
	register.DoFn2x0[[]byte, func(string, string)](&shardFilesFn{})
	register.DoFn3x1[context.Context, string, func(*string) bool, error](&writeShardFn{})
	register.Emitter2[string, string]()
	register.Iter1[string]()
}

// Buckets are the names of the perplexity buckets, lowest perplexity
// first, for two cut-offs.
var Buckets = []string{"head", "middle", "tail"}

// Bucket returns the index in Buckets of a line of perplexity ppl for the
// cut-offs cuts (ascending): the first bucket whose cut-off ppl is below,
// else the last; a ppl that is not a number goes to the last.
func Bucket(ppl float64, cuts []float64) int {
	for i, c := range cuts {
		if ppl < c {
			return i
		}
	}
	return len(cuts)
}

// ShardName is the name of shard i of n of the output prefix.
func ShardName(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.jsonl", prefix, i, n)
}

// shardOf picks a shard for a line from its JSON object.
func shardOf(line string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(line))
	return int(h.Sum32() % uint32(n))
}

// formatResultFn writes a Result as its JSON line, keyed by the file it
// goes to.
type formatResultFn struct {
	Prefix string
	Shards int
	Cuts   []float64
}

func (fn *formatResultFn) ProcessElement(r Result, emit func(string, string)) {
	var b bytes.Buffer
	b.WriteString(`{"file":`)
	jsonl.String(&b, r.File)
	fmt.Fprintf(&b, `,"line":%d,"text":`, r.Line)
	jsonl.String(&b, r.Text)
	b.WriteString(`,"logprob":`)
	jsonl.Float(&b, r.LogProb)
	fmt.Fprintf(&b, `,"tokens":%d,"oov":%d,"ppl":`, r.Tokens, r.OOV)
	jsonl.Float(&b, r.PPL)
	b.WriteByte('}')
	line := b.String()
	emit(ShardName(bucketPrefix(fn.Prefix, fn.Cuts, Bucket(r.PPL, fn.Cuts)), shardOf(line, fn.Shards), fn.Shards), line)
}

// bucketPrefix is the output prefix of bucket i: prefix itself without
// cut-offs.
func bucketPrefix(prefix string, cuts []float64, i int) string {
	if len(cuts) == 0 {
		return prefix
	}
	return prefix + "-" + Buckets[i]
}

// formatFailureFn writes a Failure as its JSON line, keyed by the dead
// letter's one file.
type formatFailureFn struct {
	Prefix string
}

func (fn *formatFailureFn) ProcessElement(f Failure, emit func(string, string)) {
	var b bytes.Buffer
	b.WriteString(`{"file":`)
	jsonl.String(&b, f.File)
	fmt.Fprintf(&b, `,"line":%d,"text":`, f.Line)
	jsonl.String(&b, f.Text)
	b.WriteString(`,"error":`)
	jsonl.String(&b, f.Error)
	b.WriteByte('}')
	emit(ShardName(fn.Prefix, 0, 1), b.String())
}

// shardFilesFn emits every file name with an empty line, so that every
// shard is written even when no line goes to it. (A JSON line is never
// empty.)
type shardFilesFn struct {
	Names []string
}

func (fn *shardFilesFn) ProcessElement(_ []byte, emit func(string, string)) {
	for _, name := range fn.Names {
		emit(name, "")
	}
}

// writeShardFn writes the lines of one file under a temporary name in the
// same folder (hidden, so that a glob on the prefix does not see it) and
// renames it when complete.
type writeShardFn struct{}

func (fn *writeShardFn) ProcessElement(ctx context.Context, name string, lines func(*string) bool) (err error) {
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer fs.Close()
	tmp := tempName(name)
	w, err := fs.OpenWrite(ctx, tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var line string
	for lines(&line) {
		if line == "" {
			continue
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := filesystem.Rename(ctx, fs, tmp, name); err != nil {
		return fmt.Errorf("write %s: rename %s: %w", name, tmp, err)
	}
	return nil
}

// tempName is a fresh hidden name beside name.
func tempName(name string) string {
	var r [8]byte
	rand.Read(r[:])
	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i+1], name[i+1:]
	}
	return dir + ".tmp-" + hex.EncodeToString(r[:]) + "-" + base
}

// writeFiles writes keyed, a PCollection<KV<string, string>> of file name
// and line, to the files names (each written, empty or not; every key of
// keyed must be one of them).
func writeFiles(s beam.Scope, names []string, keyed ...beam.PCollection) {
	s = s.Scope("lmscore.Write")
	all := append([]beam.PCollection{beam.ParDo(s, &shardFilesFn{Names: names}, beam.Impulse(s))}, keyed...)
	beam.ParDo0(s, &writeShardFn{}, beam.GroupByKey(s, beam.Flatten(s, all...)))
}
