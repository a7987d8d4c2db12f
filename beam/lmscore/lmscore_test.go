package lmscore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/lstmq/lstmq"
)

var (
	torchDir  = filepath.Join("..", "..", "testdata", "torch")
	deepPth   = filepath.Join(torchDir, "deep.pth")
	corpusDir = filepath.Join(torchDir, "corpus")
)

// record is one line of any output file.
type record struct {
	File    string
	Line    int64
	Text    string
	Logprob *float64
	Tokens  int
	OOV     int
	Ppl     *float64
	Error   string
	path    string // the output file it was in
}

// golden returns PyTorch's float32 log-probabilities of the deep fixture
// model's sentences (testdata/torch/score/score.json), by text.
func golden(t *testing.T) map[string]float64 {
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
	m := map[string]float64{}
	for _, s := range g.Models["deep"].Variants["fp32"] {
		if !strings.ContainsAny(s.Text, "\n\r") {
			m[s.Text] = s.Logprob
		}
	}
	if len(m) == 0 {
		t.Fatal("no fp32 sentences of the deep model in score.json")
	}
	return m
}

// corpus writes files of lines to a temporary folder: the fixture corpus's
// test.txt in three files, and PyTorch's golden sentences in a fourth. It
// returns the folder and each file's lines.
func corpus(t *testing.T) (string, map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	test := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var gold []string
	for text := range golden(t) {
		gold = append(gold, text)
	}
	sort.Strings(gold)
	gold = append(gold, "", "   ", "zzzunknownword the")
	dir := t.TempDir()
	files := map[string][]string{}
	third := len(test) / 3
	for i, lines := range [][]string{test[:third], test[third : 2*third], test[2*third:], gold} {
		path := filepath.Join(dir, fmt.Sprintf("part%d.txt", i))
		content := strings.Join(lines, "\n")
		if i != 2 {
			content += "\n" // part2 has no final newline
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		files[path] = lines
	}
	return dir, files
}

func testOptions(dir, out string) Options {
	return Options{
		ModelConfig: ModelConfig{Model: deepPth, Vocab: corpusDir, Threads: 2, BatchSize: 5},
		Input:       filepath.Join(dir, "*.txt"), Output: filepath.Join(out, "scores"), Shards: 3,
	}
}

// run runs the pipeline of o on Prism and returns its summary and every
// record of every file of o.Output*, checking that the files are exactly
// o.OutputFiles().
func run(t *testing.T, o Options) (Summary, []record) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := Pipeline(s, o); err != nil {
		t.Fatal(err)
	}
	res, err := prism.Execute(context.Background(), p)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	paths, err := filepath.Glob(o.Output + "*")
	if err != nil {
		t.Fatal(err)
	}
	want := o.OutputFiles()
	sort.Strings(want)
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Fatalf("output files\n%s\nwant\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	var recs []record
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
			}
			r.path = path
			recs = append(recs, r)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return Summarize(res), recs
}

// once checks that every line of files is in recs exactly once, with its
// text, and returns the records by file and line.
func once(t *testing.T, files map[string][]string, recs []record) map[string]map[int64]record {
	t.Helper()
	by := map[string]map[int64]record{}
	for _, r := range recs {
		if by[r.File] == nil {
			by[r.File] = map[int64]record{}
		}
		if _, dup := by[r.File][r.Line]; dup {
			t.Errorf("%s line %d twice", r.File, r.Line)
		}
		by[r.File][r.Line] = r
	}
	n := 0
	for file, lines := range files {
		n += len(lines)
		for i, text := range lines {
			r, ok := by[file][int64(i+1)]
			switch {
			case !ok:
				t.Errorf("%s line %d missing", file, i+1)
			case r.Error == "" && r.Text != text:
				t.Errorf("%s line %d: text %q, want %q", file, i+1, r.Text, text)
			}
		}
	}
	if len(recs) != n {
		t.Errorf("%d records for %d input lines", len(recs), n)
	}
	return by
}

// TestPipelineMatchesLibrary scores a corpus of four files on Prism and
// compares every line with Session.Score on its file, and the golden
// sentences with PyTorch. In float32 the score of a sentence does not
// depend on the batch it runs in (the library promises 1e-5 and gives 0 on
// the fixtures), so the pipeline's batches of 5 must give the library's
// batches of 16 within 1e-6; PyTorch within 1e-4 (the bar).
func TestPipelineMatchesLibrary(t *testing.T) {
	dir, files := corpus(t)
	o := testOptions(dir, t.TempDir())
	sum, recs := run(t, o)
	by := once(t, files, recs)

	m, err := lstmq.Open(deepPth, lstmq.WithVocabulary(corpusDir), lstmq.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	gold := golden(t)
	var tokens int64
	var nll float64
	for file, lines := range files {
		want, err := m.NewSession().Score(context.Background(), lines)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			r := by[file][int64(i+1)]
			if r.Error != "" || r.Logprob == nil || r.Ppl == nil {
				t.Errorf("%s line %d: %+v", file, i+1, r)
				continue
			}
			if math.Abs(*r.Logprob-w.LogProb) > 1e-6 || r.Tokens != len(w.Tokens) || r.OOV != w.OOV || math.Abs(*r.Ppl-w.Perplexity()) > 1e-9*w.Perplexity() {
				t.Errorf("%s line %d: logprob %v tokens %d oov %d ppl %v; library %v %d %d %v",
					file, i+1, *r.Logprob, r.Tokens, r.OOV, *r.Ppl, w.LogProb, len(w.Tokens), w.OOV, w.Perplexity())
			}
			if g, ok := gold[lines[i]]; ok && math.Abs(*r.Logprob-g) > 1e-4 {
				t.Errorf("%s line %d: logprob %v, PyTorch %v", file, i+1, *r.Logprob, g)
			}
			tokens += int64(len(w.Tokens))
			nll -= w.LogProb
		}
	}
	if sum.Sentences != int64(len(recs)) || sum.Tokens != tokens || sum.Words != tokens-sum.Sentences || sum.Failed != 0 {
		t.Errorf("summary %+v: want %d sentences, %d tokens", sum, len(recs), tokens)
	}
	if sum.OOV != 2 { // "zzzunknownword" and the golden sentence's own
		t.Logf("oov %d", sum.OOV)
	}
	if want := math.Exp(nll / float64(tokens)); math.Abs(sum.Perplexity()-want) > 1e-6*want {
		t.Errorf("corpus perplexity %v, want %v", sum.Perplexity(), want)
	}
	if sum.PPL.Count != sum.Sentences || sum.Batches < 1 {
		t.Errorf("ppl distribution %+v, %d batches for %d sentences", sum.PPL, sum.Batches, sum.Sentences)
	}
	if sum.ModelsLoaded != 1 {
		t.Errorf("model loaded %d times", sum.ModelsLoaded)
	}
}

// TestModelOncePerWorker runs three scoring transforms (three DoFn
// instances, each with its own bundles) in one pipeline: the worker, this
// process, opens the model once.
func TestModelOncePerWorker(t *testing.T) {
	dir, files := corpus(t)
	cfg := ModelConfig{Model: deepPth, Vocab: corpusDir, Threads: 1, BatchSize: 4, Job: "once-per-worker"}
	p, s := beam.NewPipelineWithRoot()
	var n int
	for path := range files {
		lines, _ := Read(s, path)
		Score(s, cfg, lines)
		n++
	}
	res, err := prism.Execute(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(res)
	if sum.ModelsLoaded != 1 || sum.Setups < int64(n) || sum.Bundles < int64(n) {
		t.Errorf("model loaded %d times for %d setups and %d bundles; want once for at least %d of each", sum.ModelsLoaded, sum.Setups, sum.Bundles, n)
	}
	t.Logf("model loaded %d time(s), %d setups, %d bundles, %d batches", sum.ModelsLoaded, sum.Setups, sum.Bundles, sum.Batches)
	_ = dir
}

// TestDeadLetter: lines the model cannot take (invalid UTF-8, too many
// words, longer than MaxLineBytes) go to the dead letter with the reason;
// the job succeeds and scores the others.
func TestDeadLetter(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("the ", MaxLineBytes/4+1)
	files := map[string][]string{
		filepath.Join(dir, "a.txt"): {"the cat", "bad \xff\xfe byte", "one two three four five six seven", "", long, "the the"},
		filepath.Join(dir, "b.txt"): {"\xc3", "the"},
	}
	for path, lines := range files {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := testOptions(dir, t.TempDir())
	o.MaxWords = 6
	sum, recs := run(t, o)
	by := once(t, files, recs)
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	dead := ShardName(o.Output+"-deadletter", 0, 1)
	for _, c := range []struct {
		file  string
		line  int64
		error string
	}{
		{a, 2, "invalid UTF-8"}, {a, 3, "7 words, more than the limit of 6"}, {a, 5, "line longer than"}, {b, 1, "invalid UTF-8"},
	} {
		r := by[c.file][c.line]
		if r.path != dead || !strings.Contains(r.Error, c.error) || r.Logprob != nil {
			t.Errorf("%s line %d: %+v; want in %s with %q", c.file, c.line, r, dead, c.error)
		}
	}
	if r := by[a][5]; len(r.Text) > 2*failTextBytes {
		t.Errorf("a long line's failure keeps %d bytes of text", len(r.Text))
	}
	if sum.Failed != 4 || sum.Sentences != 4 {
		t.Errorf("%d failed, %d scored; want 4, 4", sum.Failed, sum.Sentences)
	}
}

// TestBuckets: with two cut-offs every line is in exactly one of head,
// middle and tail, by its perplexity, and no plain OUTPUT shard is written.
func TestBuckets(t *testing.T) {
	dir, files := corpus(t)
	o := testOptions(dir, t.TempDir())
	// Cut-offs between the perplexities of the corpus, so that every bucket
	// gets lines.
	o.Cuts = []float64{285, 300}
	_, recs := run(t, o)
	once(t, files, recs)
	count := map[string]int{}
	for _, r := range recs {
		if r.Error != "" {
			t.Errorf("%+v", r)
			continue
		}
		b := Buckets[Bucket(*r.Ppl, o.Cuts)]
		if !strings.HasPrefix(filepath.Base(r.path), "scores-"+b+"-") {
			t.Errorf("%s line %d, ppl %v, in %s; want bucket %s", r.File, r.Line, *r.Ppl, r.path, b)
		}
		count[b]++
	}
	for _, b := range Buckets {
		if count[b] == 0 {
			t.Errorf("bucket %s is empty (%v): choose other cut-offs", b, count)
		}
	}
}

// TestModelOnBeamFS opens the model and the corpus folder through Beam's
// file systems (memfs here; gs:// and s3:// the same way): the worker
// copies them and scores as from local files.
func TestModelOnBeamFS(t *testing.T) {
	for _, name := range []string{"deep.pth", "corpus/train.txt", "corpus/valid.txt", "corpus/test.txt"} {
		b, err := os.ReadFile(filepath.Join(torchDir, name))
		if err != nil {
			t.Fatal(err)
		}
		memfs.Write("memfs://models/"+name, b)
	}
	dir, files := corpus(t)
	local := testOptions(dir, t.TempDir())
	remote := local
	remote.Model, remote.Vocab, remote.Output = "memfs://models/deep.pth", "memfs://models/corpus", filepath.Join(t.TempDir(), "scores")
	_, want := run(t, local)
	_, got := run(t, remote)
	wantBy, gotBy := once(t, files, want), once(t, files, got)
	for file, lines := range gotBy {
		for n, r := range lines {
			if w := wantBy[file][n]; r.Logprob == nil || w.Logprob == nil || *r.Logprob != *w.Logprob {
				t.Errorf("%s line %d: %+v through memfs, %+v locally", file, n, r, w)
			}
		}
	}
}

// TestFetch copies files through Beam's file systems: a local path and a
// memfs one.
func TestFetch(t *testing.T) {
	ctx := context.Background()
	want, err := os.ReadFile(deepPth)
	if err != nil {
		t.Fatal(err)
	}
	memfs.Write("memfs://fetch/deep.pth", want)
	for _, src := range []string{deepPth, "memfs://fetch/deep.pth"} {
		dst := filepath.Join(t.TempDir(), "sub", baseName(src))
		if err := fetch(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(dst); err != nil || string(got) != string(want) {
			t.Errorf("fetch %s: %d bytes, %v; want %d", src, len(got), err, len(want))
		}
	}
	if err := fetch(ctx, "memfs://fetch/none.pth", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "memfs://fetch/none.pth") {
		t.Errorf("fetch of a missing file: %v", err)
	}
	if err := fetch(ctx, "nosuchfs://x/y", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "nosuchfs") {
		t.Errorf("fetch through an unregistered scheme: %v", err)
	}
	if _, err := openModel(ctx, ModelConfig{Model: "memfs://fetch/none.pth"}); err == nil || !strings.Contains(err.Error(), "none.pth") {
		t.Errorf("open a missing model: %v", err)
	}
}

// TestAcquire: DoFn instances of one configuration share one model; the
// last release frees it, and a failed open is not kept.
func TestAcquire(t *testing.T) {
	ctx := context.Background()
	cfg := ModelConfig{Model: deepPth, Vocab: corpusDir, Threads: 1, BatchSize: 2, Job: "acquire"}
	m1, loaded1, err := acquire(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m2, loaded2, err := acquire(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 || !loaded1 || loaded2 {
		t.Errorf("second acquire: same model %v, loaded %v then %v", m1 == m2, loaded1, loaded2)
	}
	release(cfg)
	release(cfg)
	if _, _, err := acquire(ctx, ModelConfig{Model: filepath.Join(t.TempDir(), "none.pth"), Job: "acquire"}); err == nil {
		t.Error("acquire of a missing model succeeded")
	}
	shared.Lock()
	defer shared.Unlock()
	for k := range shared.m {
		if k.Job == "acquire" {
			t.Errorf("%+v still held", k)
		}
	}
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+10)
	for _, c := range []struct {
		in    string
		lines []string
		fails []int64
	}{
		{"", nil, nil},
		{"\n", []string{""}, nil},
		{"a\nb", []string{"a", "b"}, nil},
		{"a\r\n\nb\n", []string{"a\r", "", "b"}, nil},
		{"a\n" + long + "\nc\n", []string{"a", "c"}, []int64{2}},
		{"a\n" + long, []string{"a"}, []int64{2}},
	} {
		var lines []string
		var nums, fails []int64
		err := readLines(context.Background(), strings.NewReader(c.in), "f", func(l Line) { lines, nums = append(lines, l.Text), append(nums, l.Line) },
			func(f Failure) { fails = append(fails, f.Line) })
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(lines) != fmt.Sprint(c.lines) || fmt.Sprint(fails) != fmt.Sprint(c.fails) {
			t.Errorf("%.20q: lines %q failures %v; want %q %v", c.in, lines, fails, c.lines, c.fails)
		}
		for i, n := range nums {
			if n <= 0 || (i > 0 && n <= nums[i-1]) {
				t.Errorf("%.20q: line numbers %v", c.in, nums)
			}
		}
	}
}

func TestBucket(t *testing.T) {
	cuts := []float64{30, 60}
	for _, c := range []struct {
		ppl  float64
		want string
	}{{1, "head"}, {29.99, "head"}, {30, "middle"}, {59.9, "middle"}, {60, "tail"}, {1e9, "tail"}, {math.Inf(1), "tail"}, {math.NaN(), "tail"}} {
		if got := Buckets[Bucket(c.ppl, cuts)]; got != c.want {
			t.Errorf("Bucket(%v) = %s, want %s", c.ppl, got, c.want)
		}
	}
}

func TestParseCuts(t *testing.T) {
	if c, err := ParseCuts(" 30, 60 "); err != nil || fmt.Sprint(c) != "[30 60]" {
		t.Errorf("ParseCuts: %v %v", c, err)
	}
	if c, err := ParseCuts(""); err != nil || c != nil {
		t.Errorf("ParseCuts empty: %v %v", c, err)
	}
	for _, bad := range []string{"30", "60,30", "30,30", "a,b", "30,60,90", "-1,5", "NaN,5", "5,Inf"} {
		if _, err := ParseCuts(bad); err == nil || !strings.Contains(err.Error(), "--buckets") {
			t.Errorf("ParseCuts(%q): %v", bad, err)
		}
	}
}

func TestCheck(t *testing.T) {
	good := Options{ModelConfig: ModelConfig{Model: "m.pth", BatchSize: 1}, Input: "*.txt", Output: "out/s"}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Model = "" }, "--model"},
		{func(o *Options) { o.Input = "" }, "--input"},
		{func(o *Options) { o.Output = "" }, "--output"},
		{func(o *Options) { o.BatchSize = 0 }, "--batch-size"},
		{func(o *Options) { o.Threads = -1 }, "--threads"},
		{func(o *Options) { o.Cuts = []float64{5} }, "--buckets"},
		{func(o *Options) { o.Output = "nosuchfs://b/out" }, "--output nosuchfs://b/out"},
		{func(o *Options) { o.Model = "nosuchfs://b/m.pth" }, "--model nosuchfs://b/m.pth"},
	} {
		o := good
		c.edit(&o)
		if err := o.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
		p, s := beam.NewPipelineWithRoot()
		if err := Pipeline(s, o); err == nil {
			t.Errorf("Pipeline took options without %s", c.want)
		}
		_ = p
	}
}

func TestTempName(t *testing.T) {
	for _, name := range []string{"out/scores-00000-of-00001.jsonl", "gs://b/o/s-00000-of-00001.jsonl", "s-00000-of-00001.jsonl"} {
		tmp := tempName(name)
		dir := name[:strings.LastIndexByte(name, '/')+1]
		if !strings.HasPrefix(tmp, dir+".tmp-") || strings.Contains(tmp[len(dir):], "/") || tmp == tempName(name) {
			t.Errorf("tempName(%s) = %s", name, tmp)
		}
	}
}
