package hostile

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lstmq/lstmq/internal/rss"
)

var writeTable = flag.Bool("hostile.table", false, "write README-table.md from the messages the suite saw")

// maxRSS is the peak resident memory any run may reach.
const maxRSS = 100 << 20

var (
	bin     string // the lstmq binary
	work    string // the folder the runs happen in; paths in args are relative to it
	repo    string // the repository root
	qmodel  string // "q.safetensors" in work: deep.pth quantized by lstmq quantize
	peakMu  sync.Mutex
	peakRSS = map[string]int64{} // test group -> peak Maxrss in bytes
	rows    []tableRow
)

type tableRow struct{ group, input, command, message string }

func TestMain(m *testing.M) {
	if os.Getenv(spawnEnv) == "1" {
		os.Exit(spawn())
	}
	flag.Parse()
	os.Exit(run(m))
}

// spawnEnv makes the test binary a spawner: it runs os.Args[2:] and writes
// the child's peak RSS to file descriptor 3. Measuring through a fresh small
// process matters on Linux: os/exec starts children with vfork, and exec
// records the high-water RSS of the memory the child shared until then,
// the parent's, in the child's Maxrss. The spawner's is a few MB; the test
// process's grows with the files it builds.
const spawnEnv = "HOSTILE_SPAWN"

func spawn() int {
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, spawnEnv+"=") })
	cmd.SysProcAttr = deathSignal()
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
		return 125
	}
	fmt.Fprintf(os.NewFile(3, "rss"), "%d\n", rss.Peak(cmd.ProcessState))
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hostile")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("HOSTILE_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("keeping", dir)
	}
	repo, _ = filepath.Abs("..")
	bin = filepath.Join(dir, "lstmq")
	build := exec.Command("go", "build", "-o", bin, "./cmd/lstmq")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	work = filepath.Join(dir, "work")
	os.Mkdir(work, 0o755)
	// The real checkpoints and corpus, copied so that the messages name
	// short relative paths.
	for _, f := range []string{"deep.pth", "tied.pth", "deep_legacy.pth", "tied_legacy.pth",
		"tied_p0.pth", "tied_p1.pth", "tied_legacy_p1.pth", "tied_wrapped.pth", "tied_deflate.pth"} {
		b, err := os.ReadFile(filepath.Join(repo, "testdata", "torch", f))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.WriteFile(filepath.Join(work, f), b, 0o644)
	}
	os.Mkdir(filepath.Join(work, "corpus"), 0o755)
	for _, f := range []string{"train.txt", "valid.txt", "test.txt"} {
		b, err := os.ReadFile(filepath.Join(repo, "testdata", "torch", "corpus", f))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.WriteFile(filepath.Join(work, "corpus", f), b, 0o644)
	}
	qmodel = "q.safetensors"
	r := lstmq(nil, "quantize", "--model", "deep.pth", "--data", "corpus", "--out", qmodel)
	if r.code != 0 {
		fmt.Fprintf(os.Stderr, "lstmq quantize: exit %d: %s", r.code, r.stderr)
		return 1
	}
	code := m.Run()
	var groups []string
	for g := range peakRSS {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		fmt.Printf("peak RSS %-24s %6.1f MB\n", g, float64(peakRSS[g])/(1<<20))
	}
	if *writeTable && code == 0 {
		if err := os.WriteFile("README-table.md", table(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if !*writeTable && code == 0 && flag.Lookup("test.run").Value.String() == "" {
		// A full run saw every message: the committed table must be
		// what it says now.
		if old, _ := os.ReadFile("README-table.md"); !bytes.Equal(old, table()) {
			fmt.Fprintln(os.Stderr, "README-table.md is not what lstmq says now; run go test ./hostile -hostile.table")
			return 1
		}
	}
	return code
}

// TestREADMETable checks that every row of the README's bad-input table is
// a row of README-table.md, which a full run of this suite checks against
// what lstmq says.
func TestREADMETable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := os.ReadFile("README-table.md")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(gen), "\n") {
		have[l] = true
	}
	_, sect, _ := strings.Cut(string(readme), "\n| bad input | command | lstmq says |\n|---|---|---|\n")
	sect, _, _ = strings.Cut(sect, "\n\n")
	n := 0
	for _, l := range strings.Split(sect, "\n") {
		n++
		if !have[l] {
			t.Errorf("README row not in hostile/README-table.md:\n%s", l)
		}
	}
	if n == 0 {
		t.Error("no bad-input table in README.md")
	}
}

// result is one finished run of lstmq.
type result struct {
	args           []string
	code           int
	stdout, stderr string
	rss            int64 // peak resident memory, bytes
	elapsed        time.Duration
}

// lstmq runs the binary in work with args. t may be nil (TestMain).
func lstmq(t *testing.T, args ...string) result {
	if t != nil {
		t.Helper()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"--", bin}, args...)...)
	cmd.Dir = work
	// LSTMQ_DEBUG=1: a panic the command recovers (cli.Run) prints its
	// stack, which check fails on, as on "internal error".
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all", "LSTMQ_DEBUG=1", spawnEnv+"=1")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limited{b: &so}, &se
	pr, pw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	defer pr.Close()
	cmd.ExtraFiles = []*os.File{pw}
	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err == nil {
		err = cmd.Wait()
	}
	r := result{args: args, stdout: so.String(), stderr: se.String(), elapsed: time.Since(start), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
		rb, _ := io.ReadAll(pr)
		r.rss, _ = strconv.ParseInt(strings.TrimSpace(string(rb)), 10, 64)
	}
	if ctx.Err() != nil && t != nil {
		t.Fatalf("lstmq %s: timed out after %v", strings.Join(args, " "), r.elapsed)
	}
	if err != nil && r.code < 0 && t != nil {
		t.Fatalf("lstmq %s: %v", strings.Join(args, " "), err)
	}
	if t != nil {
		group := t.Name()
		if i := strings.Index(group, "/"); i >= 0 {
			group = group[:i]
		}
		peakMu.Lock()
		peakRSS[group] = max(peakRSS[group], r.rss)
		peakMu.Unlock()
	}
	return r
}

// limited keeps the first 1 MB written to it and drops the rest: vocab on a
// 50 MB line prints a lot.
type limited struct{ b *bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if n := 1<<20 - l.b.Len(); n > 0 {
		l.b.Write(p[:min(n, len(p))])
	}
	return len(p), nil
}

// check asserts what every run must do: no panic (recovered as an
// internal error, or not) or runtime trace, memory under maxRSS.
func check(t *testing.T, r result) {
	t.Helper()
	for _, bad := range []string{"panic", "internal error", "goroutine ", "runtime error", "fatal error", "SIGSEGV"} {
		if strings.Contains(r.stderr, bad) || strings.Contains(r.stdout, bad) {
			t.Fatalf("lstmq %s: output contains %q:\n%s", strings.Join(r.args, " "), bad, clip(r.stderr))
		}
	}
	if r.rss > maxRSS {
		t.Errorf("lstmq %s: peak RSS %.1f MB > %d MB", strings.Join(r.args, " "), float64(r.rss)/(1<<20), maxRSS>>20)
	}
}

// wantFail asserts exit code 1 and one stderr line "lstmq: …" naming file.
func wantFail(t *testing.T, r result, file string) {
	t.Helper()
	check(t, r)
	cmd := "lstmq " + strings.Join(r.args, " ")
	if r.code != 1 {
		t.Fatalf("%s: exit code %d, want 1; stderr:\n%s", cmd, r.code, clip(r.stderr))
	}
	msg, ok := strings.CutSuffix(r.stderr, "\n")
	if !ok || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "lstmq: ") {
		t.Fatalf("%s: stderr is not one line starting with \"lstmq: \":\n%q", cmd, clip(r.stderr))
	}
	if !strings.Contains(msg, file) {
		t.Fatalf("%s: message does not name %s: %s", cmd, file, msg)
	}
}

// wantOK asserts exit code 0.
func wantOK(t *testing.T, r result) {
	t.Helper()
	check(t, r)
	if r.code != 0 {
		t.Fatalf("lstmq %s: exit code %d, want 0; stderr:\n%s", strings.Join(r.args, " "), r.code, clip(r.stderr))
	}
}

// wantFailOrOK accepts a clean failure or success: a flipped byte in tensor
// data still makes a valid file.
func wantFailOrOK(t *testing.T, r result, file string) {
	t.Helper()
	if r.code == 0 {
		check(t, r)
		return
	}
	wantFail(t, r, file)
}

// record adds r's message to the README table under group.
func record(t *testing.T, group, input string, r result) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if r.code == 0 {
		msg = "(exit 0: valid input)"
	} else if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	peakMu.Lock()
	rows = append(rows, tableRow{group, input, "lstmq " + strings.Join(r.args, " "), msg})
	peakMu.Unlock()
}

func table() []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated by go test ./hostile -hostile.table: what lstmq says (exit code 1, one line on stderr) for each kind of bad input. -->\n")
	b.WriteString("| bad input | command | lstmq says |\n|---|---|---|\n")
	cell := func(s string) string {
		return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		k := r.group + r.input
		if seen[k] {
			continue
		}
		seen[k] = true
		fmt.Fprintf(&b, "| %s | `%s` | `%s` |\n", cell(r.input), cell(r.command), cell(r.message))
	}
	return b.Bytes()
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// put writes b to name in work and returns name.
func put(t *testing.T, name string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(work, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(work, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
