package cli

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lstmq/lstmq"
)

func TestModelFlags(t *testing.T) {
	var mf modelFlags
	for _, v := range []string{"wiki=data/model.pth", "x/deep.pth", "m.q8.safetensors", "a=b=c.pth", "dir/=odd.pth"} {
		if err := mf.Set(v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	want := "wiki=data/model.pth,deep=x/deep.pth,m.q8=m.q8.safetensors,a=b=c.pth,=odd=dir/=odd.pth"
	if got := mf.String(); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if err := mf.Set("y/deep.pth"); err == nil || !strings.Contains(err.Error(), `two models named "deep"`) {
		t.Errorf("a second deep: %v", err)
	}
}

func TestServeUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"serve", "--data", corpusDir}, "--model is required"},
		{[]string{"serve", "--model", deepPth, "--max-batch", "0"}, "--max-batch must be >= 1"},
		{[]string{"serve", "--model", deepPth, "--batch-delay", "-1s"}, "--batch-delay must be >= 0"},
		{[]string{"serve", "--model", deepPth, "--max-words", "0"}, "--max-words must be >= 1"},
		{[]string{"serve", "--model", deepPth, "--log-format", "xml"}, "--log-format must be text or json"},
		{[]string{"serve", "--model", deepPth, "--model", deepPth}, `two models named "deep"`},
		{[]string{"serve", "--model", deepPth, "--data", corpusDir, "--addr", "127.0.0.1:0", "--quantize", "int4"}, "--quantize must be int8"},
		{[]string{"loadtest", "--addr", "127.0.0.1:1"}, "--model is required"},
		{[]string{"loadtest", "--model", "m", "--addr", "10.1.2.3:80"}, "--addr must be on this machine"},
		{[]string{"loadtest", "--model", "m", "--requests", "0"}, "give --requests or --duration"},
		{[]string{"loadtest", "--model", "m", "--mix", "score=1,fly=2"}, `unknown kind "fly"`},
		{[]string{"loadtest", "--model", "m", "-c", "0"}, "--concurrency must be in [1, 1024]"},
	} {
		code, _, errs := run(t, c.args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n") // serve logs before a model fails
		if last := lines[len(lines)-1]; code != 2 || !strings.HasPrefix(last, "lstmq: ") || !strings.Contains(last, c.says) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.says)
		}
	}
	// A model that cannot load stops serve: exit 1, one line naming it.
	code, _, errs := run(t, "serve", "--model", "nope.pth", "--data", corpusDir, "--addr", "127.0.0.1:0", "--log-format", "json")
	if code != 1 || !strings.Contains(errs, "lstmq: ") || !strings.Contains(errs, "nope.pth") {
		t.Errorf("missing model file: exit %d, %q", code, errs)
	}
}

// syncBuffer collects a command's stderr while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// waitListening waits up to 10 s for the "listening" log line in log()
// and returns the server's base URL.
func waitListening(t *testing.T, log func() string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := listening.FindStringSubmatch(log()); m != nil {
			return "http://" + m[1]
		}
	}
	t.Fatalf("serve did not say where it listens:\n%s", log())
	return ""
}

// waitReady waits up to 10 s for /readyz to answer 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatal("/readyz never answered 200")
}

// startServe runs lstmq serve in process on a free loopback port until
// the returned stop is called; stop returns the exit code and stderr.
func startServe(t *testing.T, args ...string) (url string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	codec := make(chan int, 1)
	go func() {
		codec <- MainContext(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), io.Discard, stderr)
	}()
	url = waitListening(t, stderr.String)
	waitReady(t, url)
	var once sync.Once
	var code int
	stop = func() (int, string) {
		once.Do(func() {
			cancel()
			code = <-codec
		})
		return code, stderr.String()
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

func postJSON(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// TestServe serves two fixture models by name, checks /v1/models and
// their scores over HTTP (deep: PyTorch's, tied: the library's, 1e-4),
// then stops serve as SIGINT would: exit 0.
func TestServe(t *testing.T) {
	url, stop := startServe(t, "--model", "deep="+deepPth, "--model", filepath.Join(torchDir, "tied.pth"), "--data", corpusDir, "--threads", "1")
	var models struct{ Models []struct{ Name string } }
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&models)
	resp.Body.Close()
	if len(models.Models) != 2 || models.Models[0].Name != "deep" || models.Models[1].Name != "tied" {
		t.Errorf("/v1/models: %+v", models)
	}
	texts, want := goldenScores(t, "fp32")
	tied, err := lstmq.Open(filepath.Join(torchDir, "tied.pth"), lstmq.WithVocabulary(corpusDir))
	if err != nil {
		t.Fatal(err)
	}
	tiedScores, err := tied.NewSession().Score(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deep", "tied"} {
		var res struct{ Results []struct{ Logprob float64 } }
		if code := postJSON(t, url+"/v1/score", map[string]any{"model": name, "sentences": texts}, &res); code != 200 || len(res.Results) != len(texts) {
			t.Fatalf("%s: %d, %d results", name, code, len(res.Results))
		}
		for i, r := range res.Results {
			w := want[i] // PyTorch's
			if name == "tied" {
				w = tiedScores[i].LogProb
			}
			if math.Abs(r.Logprob-w) > 1e-4 {
				t.Errorf("%s %q: %v, want %v", name, texts[i], r.Logprob, w)
			}
		}
	}
	code, errs := stop()
	if code != 0 || !strings.Contains(errs, "msg=stopped") || strings.Count(errs, "msg=\"model loaded\"") != 2 {
		t.Errorf("exit %d:\n%s", code, errs)
	}
}

// TestServeAPIKey checks that serve takes its key from LSTMQ_API_KEY.
func TestServeAPIKey(t *testing.T) {
	t.Setenv("LSTMQ_API_KEY", "k3y")
	url, _ := startServe(t, "--model", deepPth, "--data", corpusDir, "--threads", "1")
	var v map[string]any
	if code := postJSON(t, url+"/v1/next", map[string]any{"model": "deep", "context": "the"}, &v); code != 401 {
		t.Errorf("without the key: %d %v", code, v)
	}
	req, _ := http.NewRequest("POST", url+"/v1/next", strings.NewReader(`{"model": "deep", "context": "the"}`))
	req.Header.Set("Authorization", "Bearer k3y")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with the key: %d", resp.StatusCode)
	}
}

// TestLoadtestSoak is the short soak: loadtest with every kind of request,
// 8 clients and a bounded count (1500) against an in-process serve on
// loopback. It must report zero errors, and the server's queue and
// sessions must be empty afterwards.
func TestLoadtestSoak(t *testing.T) {
	url, _ := startServe(t, "--model", deepPth, "--data", corpusDir, "--threads", "1")
	addr := strings.TrimPrefix(url, "http://")
	code, out, errs := run(t, "loadtest", "--addr", addr, "--model", "deep", "-c", "8", "-n", "1500",
		"--mix", "score=2,next=2,generate=1,tokenize=1,feed=2", "--sentences", "3", "--words", "10", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 1500 || rep.Failed != 0 || rep.Status["200"] != 1500 || len(rep.Kinds) != 5 || rep.PerSecond <= 0 {
		t.Errorf("report: %+v", rep)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P95 || rep.Latency.P95 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("latency: %+v", rep.Latency)
	}
	if runtime.GOOS == "linux" && (rep.Server.PeakRSS <= 0 || rep.Server.RSSAfter <= 0) {
		t.Errorf("server: %+v", rep.Server)
	}
	if rep.Server.Batches <= 0 || rep.Server.MeanRows < 1 {
		t.Errorf("batches: %+v", rep.Server)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		for _, name := range []string{"lstmq_queue_depth{", "lstmq_sessions_active "} {
			if strings.HasPrefix(l, name) && !strings.HasSuffix(l, " 0") {
				t.Errorf("after the soak: %s", l)
			}
		}
	}
	// The text report.
	code, out, errs = run(t, "loadtest", "--addr", addr, "--model", "deep", "-c", "2", "--duration", "200ms", "--mix", "next")
	if code != 0 || !strings.Contains(out, "requests/s") || !strings.Contains(out, "p99") || !strings.Contains(out, "status       200: ") {
		t.Errorf("exit %d: %s\n%s", code, errs, out)
	}
	// Failures are counted by status, and exit 1.
	code, out, errs = run(t, "loadtest", "--addr", addr, "--model", "nope", "-n", "10", "--mix", "next")
	if code != 1 || !strings.Contains(out, "404: 10") || !strings.Contains(errs, "10 of 10 requests failed") {
		t.Errorf("unknown model: exit %d: %s\n%s", code, errs, out)
	}
}

// TestServeBinary builds lstmq with deploy/build.sh, the script the
// Dockerfile runs (so CI builds with the image's exact flags), checks the
// binary is static, serves the fixture from it, sends SIGTERM while 8
// clients keep sending requests, and checks: exit 0 within the shutdown
// timeout, and every request the server logged reached its client whole.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the container image is linux")
	}
	bin := filepath.Join(t.TempDir(), "lstmq")
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	build := exec.Command("sh", "deploy/build.sh", bin)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("deploy/build.sh: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v)", p.Type)
		}
	}
	f.Close()

	cmd := exec.Command(bin, "serve", "--model", deepPth, "--data", corpusDir, "--addr", "127.0.0.1:0", "--threads", "1", "--shutdown-timeout", "10s")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := waitListening(t, stderr.String)
	waitReady(t, url)
	var complete, failed atomic.Int64
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for n := 0; ; n++ {
				body := fmt.Sprintf(`{"model": "deep", "sentences": ["the plol %d", "the the"]}`, n)
				resp, err := client.Post(url+"/v1/score", "application/json", strings.NewReader(body))
				if err != nil { // no answer: the server did not take it
					failed.Add(1)
					if stopped.Load() {
						return
					}
					continue
				}
				var res struct{ Results []struct{ Logprob float64 } }
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil || len(res.Results) != 2 {
					t.Errorf("client %d: %d, %v, %d results", i, resp.StatusCode, err, len(res.Results))
				}
				complete.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	stopped.Store(true)
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	took := time.Since(start)
	wg.Wait()
	if err != nil || took > 10*time.Second {
		t.Errorf("after SIGTERM: %v in %v\n%s", err, took, stderr.String())
	}
	logged := strings.Count(stderr.String(), "msg=request method=POST path=/v1/score status=200")
	t.Logf("exit 0 %v after SIGTERM; %d complete answers, the server logged %d; %d requests refused", took, complete.Load(), logged, failed.Load())
	if int64(logged) != complete.Load() || logged == 0 {
		t.Errorf("the server answered %d requests, the clients got %d complete answers", logged, complete.Load())
	}
}
