package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lstmq/lstmq/internal/atomicfile"
)

// Config describes a synthetic corpus. Zero fields take the values of
// DefaultConfig.
type Config struct {
	Seed       uint64 // seed of every random stream
	Vocab      int    // number of distinct tokens, MinVocab..MaxVocab
	TrainWords int    // approximate number of tokens in train.txt
	ValidWords int    // approximate number of tokens in valid.txt
	TestWords  int    // approximate number of tokens in test.txt
}

// Limits on Config.Vocab.
const (
	MinVocab = 200
	MaxVocab = 100_000
)

// DefaultConfig returns the configuration of lstmq's built-in corpus: a
// 3000-token vocabulary, about 200k training tokens and 20k each for
// validation and test (whitespace-separated tokens, not counting line ends).
func DefaultConfig() Config {
	return Config{Seed: 1, Vocab: 3000, TrainWords: 200_000, ValidWords: 20_000, TestWords: 20_000}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Vocab == 0 {
		c.Vocab = d.Vocab
	}
	if c.TrainWords == 0 {
		c.TrainWords = d.TrainWords
	}
	if c.ValidWords == 0 {
		c.ValidWords = d.ValidWords
	}
	if c.TestWords == 0 {
		c.TestWords = d.TestWords
	}
	if c.Vocab < MinVocab || c.Vocab > MaxVocab {
		return c, fmt.Errorf("synth: vocabulary size %d outside [%d, %d]", c.Vocab, MinVocab, MaxVocab)
	}
	if c.TrainWords < 0 || c.ValidWords < 0 || c.TestWords < 0 {
		return c, fmt.Errorf("synth: negative word count (train %d, valid %d, test %d)", c.TrainWords, c.ValidWords, c.TestWords)
	}
	return c, nil
}

// Split names one of the three files of a corpus.
type Split int

const (
	Train Split = iota
	Valid
	Test
)

// String returns the split's file name without extension: "train", "valid"
// or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Valid:
		return "valid"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

func (c Config) words(s Split) int {
	switch s {
	case Train:
		return c.TrainWords
	case Valid:
		return c.ValidWords
	}
	return c.TestWords
}

// Generate writes train.txt, valid.txt and test.txt for cfg into dir, which
// must exist. Each file is written atomically, replacing any file there.
func Generate(dir string, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	lx := newLexicon(cfg)
	for _, s := range []Split{Train, Valid, Test} {
		path := filepath.Join(dir, s.String()+".txt")
		err := atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
			return newGenerator(lx, cfg, s).write(w, cfg.words(s))
		})
		if err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	return nil
}

// Write writes split s of cfg's corpus to w: the same bytes Generate puts in
// the split's file.
func Write(w io.Writer, cfg Config, s Split) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if err := newGenerator(newLexicon(cfg), cfg, s).write(bw, cfg.words(s)); err != nil {
		return err
	}
	return bw.Flush()
}

// Vocabulary returns the cfg.Vocab distinct tokens the corpus is drawn from,
// sorted. Every token in the corpus is one of them; rare ones may not occur.
func Vocabulary(cfg Config) ([]string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := newLexicon(cfg).all
	v = slices.Clone(v)
	slices.Sort(v)
	return v, nil
}

// Streams of random numbers, the second PCG seed word: the lexicon's, and
// streamSplit+s for split s. Changing them changes every corpus.
const (
	streamLexicon = 0x73796e7468 // "synth"
	streamSplit   = streamLexicon + 1
)

const nGender = 4

// class is a word class with Zipf–Mandelbrot weights: cum[r] is the sum of
// the weights of words 0..r, weight(r) = 2⁴⁰/(r+2).
type class struct {
	words []string
	cum   []uint64
}

func newClass(words []string) *class {
	c := &class{words: words, cum: make([]uint64, len(words))}
	var sum uint64
	for r := range words {
		sum += (1 << 40) / uint64(r+2)
		c.cum[r] = sum
	}
	return c
}

// pick draws a word index.
func (c *class) pick(r *rand.Rand) int {
	x := r.Uint64N(c.cum[len(c.cum)-1])
	i, _ := slices.BinarySearch(c.cum, x+1) // first r with cum[r] > x
	return i
}

func (c *class) word(r *rand.Rand) string { return c.words[c.pick(r)] }

type lexicon struct {
	det    [nGender][]string
	pron   [nGender]string
	rel    *class
	prep   *class
	conj   *class
	names  [nGender]*class
	nouns  [nGender]*class
	vi, vt [nGender]*class
	vtPref [nGender][]int // preferred object class of each transitive verb
	adj    *class
	adv    *class
	all    []string // every token, in order of creation
}

// Sizes of the closed classes.
const (
	detsPerGender = 2
	nRel          = 2
	nPrep         = 12
	nConj         = 3
)

// Tokens outside the made-up words.
const (
	period = "."
	comma  = ","
	equals = "="
	unk    = "<unk>"
)

var (
	onsets = []string{"", "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
		"br", "cr", "dr", "fl", "gl", "gr", "kl", "pl", "pr", "sh", "sk", "sl", "sp", "st", "th", "tr", "ch"}
	vowels = []string{"a", "a", "e", "e", "i", "i", "o", "o", "u", "ai", "ea", "ou", "y"}
	codas  = []string{"", "", "", "", "n", "r", "s", "l", "m", "k", "t", "nd", "rn", "st", "x"}
)

func newLexicon(cfg Config) *lexicon {
	r := rand.New(rand.NewPCG(cfg.Seed, streamLexicon))
	lx := &lexicon{}
	seen := map[string]bool{period: true, comma: true, equals: true, unk: true}
	lx.all = append(lx.all, period, comma, equals, unk)

	// word makes a new distinct word of 1..maxSyl syllables, the count drawn
	// from the weights w (w[i] for i+1 syllables).
	word := func(w []int, capital bool) string {
		for {
			total := 0
			for _, x := range w {
				total += x
			}
			k, x := 0, r.IntN(total)
			for x >= w[k] {
				x -= w[k]
				k++
			}
			var b strings.Builder
			for range k + 1 {
				b.WriteString(onsets[r.IntN(len(onsets))])
				b.WriteString(vowels[r.IntN(len(vowels))])
				b.WriteString(codas[r.IntN(len(codas))])
			}
			s := b.String()
			if len(s) < 2 {
				continue
			}
			if capital {
				s = strings.ToUpper(s[:1]) + s[1:]
			}
			if !seen[s] {
				seen[s] = true
				lx.all = append(lx.all, s)
				return s
			}
		}
	}
	short := []int{1}
	open := []int{2, 5, 3}
	// words makes n words, shortest first (frequent words are short).
	words := func(n int, w []int, capital bool) []string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = word(w, capital)
		}
		slices.SortStableFunc(ws, func(a, b string) int { return len(a) - len(b) })
		return ws
	}

	for g := range nGender {
		lx.det[g] = words(detsPerGender, short, false)
		lx.pron[g] = word(short, false)
	}
	lx.rel = newClass(words(nRel, short, false))
	lx.prep = newClass(words(nPrep, short, false))
	lx.conj = newClass(words(nConj, short, false))

	rest := cfg.Vocab - len(lx.all)
	nNames := rest * 6 / 100
	nAdj := rest * 16 / 100
	nAdv := rest * 6 / 100
	nVerbs := rest * 26 / 100
	nNouns := rest - nNames - nAdj - nAdv - nVerbs
	part := func(n, g int) int { // share of class g when n words are split among nGender
		return n/nGender + b2i(g < n%nGender)
	}
	for g := range nGender {
		lx.names[g] = newClass(words(part(nNames, g), []int{0, 3, 2}, true))
		lx.nouns[g] = newClass(words(part(nNouns, g), open, false))
		nv := part(nVerbs, g)
		ni := nv * 2 / 5
		lx.vi[g] = newClass(words(ni, open, false))
		lx.vt[g] = newClass(words(nv-ni, open, false))
		lx.vtPref[g] = make([]int, nv-ni)
		for i := range lx.vtPref[g] {
			lx.vtPref[g][i] = r.IntN(nGender)
		}
	}
	lx.adj = newClass(words(nAdj, open, false))
	lx.adv = newClass(words(nAdv, open, false))
	if len(lx.all) != cfg.Vocab {
		panic(fmt.Sprintf("synth: lexicon has %d words, want %d", len(lx.all), cfg.Vocab))
	}
	return lx
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// generator writes the text of one split.
type generator struct {
	lx   *lexicon
	r    *rand.Rand
	w    io.Writer
	err  error    // first write error
	n    int      // tokens written
	line []string // tokens of the current line

	// Article state.
	titleG, title int            // the title's name: class and index
	topic         [nGender][]int // topic nouns of each class
	lastSubj      int            // class of the previous sentence's subject, -1 if none
}

func newGenerator(lx *lexicon, cfg Config, s Split) *generator {
	return &generator{lx: lx, r: rand.New(rand.NewPCG(cfg.Seed, streamSplit+uint64(s))), lastSubj: -1}
}

// write writes articles to w until at least words tokens are out, stopping
// at the end of a paragraph.
func (g *generator) write(w io.Writer, words int) error {
	g.w = w
	for g.n < words && g.err == nil {
		g.article(words)
	}
	return g.err
}

// endLine writes the current line the way WikiText does: a space before and
// after every token, or a lone space for an empty line.
func (g *generator) endLine() {
	if g.err == nil {
		g.n += len(g.line)
		if len(g.line) == 0 {
			_, g.err = io.WriteString(g.w, " \n")
		} else {
			_, g.err = io.WriteString(g.w, " "+strings.Join(g.line, " ")+" \n")
		}
	}
	g.line = g.line[:0]
}

// chance reports true with probability permille/1000.
func (g *generator) chance(permille int) bool { return g.r.IntN(1000) < permille }

func (g *generator) emit(ws ...string) { g.line = append(g.line, ws...) }

// open emits a word of an open class, or <unk> 1.5% of the time.
func (g *generator) open(w string) {
	if g.chance(15) {
		w = unk
	}
	g.emit(w)
}

// article writes a title, a lead of 1–3 paragraphs, and 0–4 sections (each
// possibly followed by a subsection) of 1–3 paragraphs, stopping early once
// words tokens are out.
func (g *generator) article(words int) {
	lx, r := g.lx, g.r
	g.titleG = r.IntN(nGender)
	g.title = lx.names[g.titleG].pick(r)
	g.lastSubj = -1
	for c := range nGender {
		g.topic[c] = g.topic[c][:0]
		for range 4 {
			g.topic[c] = append(g.topic[c], lx.nouns[c].pick(r))
		}
	}
	g.heading(1, lx.names[g.titleG].words[g.title])
	g.paragraphs(1+r.IntN(3), words)
	for range r.IntN(5) {
		if g.n >= words {
			return
		}
		g.heading(2, lx.names[r.IntN(nGender)].word(r))
		g.paragraphs(1+r.IntN(3), words)
		if g.chance(200) {
			g.heading(3, lx.names[r.IntN(nGender)].word(r))
			g.paragraphs(1+r.IntN(2), words)
		}
	}
}

// heading writes a blank line, " = = Name = = " with level '=' on each side
// (two names a third of the time), and a blank line.
func (g *generator) heading(level int, name string) {
	g.endLine()
	for range level {
		g.emit(equals)
	}
	g.emit(name)
	if g.chance(333) {
		g.emit(g.lx.names[g.r.IntN(nGender)].word(g.r))
	}
	for range level {
		g.emit(equals)
	}
	g.endLine()
	g.endLine()
}

// paragraphs writes up to n lines of 3–9 sentences.
func (g *generator) paragraphs(n, words int) {
	for range n {
		if g.n >= words {
			return
		}
		for range 3 + g.r.IntN(7) {
			g.sentence()
		}
		g.endLine()
	}
}

// sentence writes one sentence of the grammar in the package comment.
func (g *generator) sentence() {
	lx, r := g.lx, g.r
	var s int // class of the subject
	switch x := r.IntN(100); {
	case x < 40:
		s = g.subject()
		g.vp(s)
	case x < 52:
		g.pp()
		g.emit(comma)
		s = g.subject()
		g.vp(s)
	case x < 60:
		g.open(lx.adv.word(r))
		g.emit(comma)
		s = g.subject()
		g.vp(s)
	case x < 75:
		g.vp(g.subject())
		g.emit(lx.conj.word(r))
		s = g.subject()
		g.vp(s)
	case x < 87 || g.lastSubj < 0:
		s = g.subject()
		g.emit(comma, lx.rel.word(r))
		g.vp(s)
		g.emit(comma)
		g.vp(s)
	default:
		s = g.lastSubj
		g.emit(lx.pron[s])
		g.vp(s)
	}
	g.emit(period)
	g.lastSubj = s
}

// subject writes a subject noun phrase and returns its class: the article's
// title name (20%), another name (8%), or Det Adj* Noun [PP].
func (g *generator) subject() int {
	lx, r := g.lx, g.r
	switch x := r.IntN(100); {
	case x < 20:
		g.emit(lx.names[g.titleG].words[g.title])
		return g.titleG
	case x < 28:
		c := r.IntN(nGender)
		g.open(lx.names[c].word(r))
		return c
	}
	c := r.IntN(nGender)
	g.nounPhrase(c)
	if g.chance(200) {
		g.pp()
	}
	return c
}

// nounPhrase writes Det(c) Adj{0,1,2} Noun(c); 40% of nouns are the
// article's topic nouns of class c.
func (g *generator) nounPhrase(c int) {
	lx, r := g.lx, g.r
	g.emit(lx.det[c][r.IntN(detsPerGender)])
	nAdj := 0
	if x := r.IntN(10); x >= 9 {
		nAdj = 2
	} else if x >= 6 {
		nAdj = 1
	}
	for range nAdj {
		g.open(lx.adj.word(r))
	}
	i := lx.nouns[c].pick(r)
	if g.chance(400) {
		i = g.topic[c][r.IntN(len(g.topic[c]))]
	}
	g.open(lx.nouns[c].words[i])
}

// object writes an object: a noun phrase (90%) or a name (10%), of class
// pref 70% of the time and of a random class otherwise.
func (g *generator) object(pref int) {
	c := pref
	if !g.chance(700) {
		c = g.r.IntN(nGender)
	}
	if g.chance(100) {
		g.open(g.lx.names[c].word(g.r))
		return
	}
	g.nounPhrase(c)
}

// vp writes a verb phrase agreeing with a subject of class s:
// Vi(s) [Adv] [PP] (45%) or Vt(s) Obj [PP].
func (g *generator) vp(s int) {
	lx, r := g.lx, g.r
	if g.chance(450) {
		g.open(lx.vi[s].word(r))
		if g.chance(300) {
			g.open(lx.adv.word(r))
		}
		if g.chance(300) {
			g.pp()
		}
		return
	}
	i := lx.vt[s].pick(r)
	g.open(lx.vt[s].words[i])
	g.object(lx.vtPref[s][i])
	if g.chance(200) {
		g.pp()
	}
}

// pp writes Prep Obj with an object of any class.
func (g *generator) pp() {
	g.emit(g.lx.prep.word(g.r))
	g.object(g.r.IntN(nGender))
}
