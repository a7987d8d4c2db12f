package download

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// blobID computes a git blob id directly from its definition, independently
// of GitBlobID.
func blobID(content string) string {
	sum := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(content), content)))
	return hex.EncodeToString(sum[:])
}

func TestGitBlobID(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		// Ids from `git hash-object`.
		{"", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"},
		{"hello\n", "ce013625030ba8dba906f756967f9e9ca394464a"},
		{"what is up, doc?", "bd9dbf5aae1a3862dd1526723246b20206e5fc37"},
	} {
		if got := blobID(tc.content); got != tc.want {
			t.Fatalf("test helper: blob id of %q = %s, want %s", tc.content, got, tc.want)
		}
		// A plain reader, a seekable one, and one that yields a byte at a time.
		readers := map[string]io.Reader{
			"reader":   strings.NewReader(tc.content),
			"onebyte":  iotest.OneByteReader(strings.NewReader(tc.content)),
			"nonseek":  io.MultiReader(strings.NewReader(tc.content)),
			"file":     tempFile(t, tc.content),
			"readerAt": bytes.NewReader([]byte(tc.content)),
		}
		for name, r := range readers {
			id, n, err := GitBlobID(r)
			if err != nil || id != tc.want || n != int64(len(tc.content)) {
				t.Errorf("%s: GitBlobID(%q) = %s, %d, %v; want %s, %d", name, tc.content, id, n, err, tc.want, len(tc.content))
			}
		}
	}
	// A seekable reader part-way through hashes the rest.
	r := strings.NewReader("xxhello\n")
	r.Seek(2, io.SeekStart)
	if id, _, _ := GitBlobID(r); id != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Errorf("from offset 2: %s", id)
	}
	if _, _, err := GitBlobID(iotest.ErrReader(errors.New("disk on fire"))); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}

func tempFile(t *testing.T, content string) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRealFiles checks the table against the WikiText-2 copy in the shared
// data folder, if there is one.
func TestRealFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "wikitext-2")
	found := 0
	for _, f := range WikiText2Files {
		id, n, err := fileBlobID(filepath.Join(dir, f.Name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found++
		if id != f.BlobID || (f.Size >= 0 && n != f.Size) {
			t.Errorf("%s: blob %s, %d bytes; table says %s, %d bytes", f.Name, id, n, f.BlobID, f.Size)
		}
	}
	if found == 0 {
		t.Skip("no WikiText-2 files in", dir)
	}
}

// server serves files from a map and counts requests per path.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]string
	hits  map[string]int
	// truncate, if set, names a file sent with a Content-Length 1000 bytes
	// more than its body.
	truncate string
	// chunked sends bodies without a Content-Length.
	chunked bool
}

func newServer(t *testing.T, files map[string]string) *server {
	s := &server{files: files, hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		name := strings.TrimPrefix(r.URL.Path, "/data/")
		s.hits[name]++
		body, ok := s.files[name]
		trunc := name == s.truncate
		chunked := s.chunked
		s.mu.Unlock()
		if !ok || !strings.HasPrefix(r.URL.Path, "/data/") {
			http.NotFound(w, r)
			return
		}
		if trunc {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)+1000))
		}
		if chunked {
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

var testFiles = map[string]string{
	"train.txt": " = Train = \n the cat sat . \n",
	"valid.txt": " valid text \n",
	"test.txt":  " test text , with more words \n",
}

// table returns a Files table for contents, with sizes (or -1 for train.txt,
// as in the real table).
func table(contents map[string]string) []File {
	var fs []File
	for _, name := range []string{"train.txt", "valid.txt", "test.txt"} {
		size := int64(len(contents[name]))
		if name == "train.txt" {
			size = -1
		}
		fs = append(fs, File{Name: name, BlobID: blobID(contents[name]), Size: size})
	}
	return fs
}

func TestDownload(t *testing.T) {
	srv := newServer(t, testFiles)
	dir := filepath.Join(t.TempDir(), "wikitext-2") // created by WikiText2
	var events []string
	opt := Options{
		BaseURL: srv.URL + "/data", // no trailing slash: WikiText2 adds it
		Client:  srv.Client(),
		Files:   table(testFiles),
		Progress: func(file string, done, total int64) {
			events = append(events, fmt.Sprintf("%s %d/%d", file, done, total))
		},
	}
	if err := WikiText2(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	for name, want := range testFiles {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
		if srv.hits[name] != 1 {
			t.Errorf("%s fetched %d times, want 1", name, srv.hits[name])
		}
		final := fmt.Sprintf("%s %d/%d", name, len(want), len(want))
		if !contains(events, final) {
			t.Errorf("no final progress event %q in %q", final, events)
		}
	}
	assertFiles(t, dir, "test.txt", "train.txt", "valid.txt")

	// Second run: everything verified on disk, nothing fetched.
	if err := WikiText2(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	for name := range testFiles {
		if srv.hits[name] != 1 {
			t.Errorf("second run fetched %s again", name)
		}
	}

	// A corrupted file is fetched again and repaired.
	os.WriteFile(filepath.Join(dir, "valid.txt"), []byte("corrupt"), 0o644)
	if err := WikiText2(context.Background(), dir, opt); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "valid.txt")); string(got) != testFiles["valid.txt"] {
		t.Errorf("corrupt valid.txt not repaired: %q", got)
	}
	if srv.hits["valid.txt"] != 2 || srv.hits["test.txt"] != 1 {
		t.Errorf("hits %v, want valid.txt twice and the others once", srv.hits)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func assertFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestChecksumMismatch(t *testing.T) {
	served := map[string]string{}
	for k, v := range testFiles {
		served[k] = v
	}
	served["valid.txt"] = " valid texT \n" // same size, different bytes
	srv := newServer(t, served)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "valid.txt"), []byte("previous"), 0o644)
	err := WikiText2(context.Background(), dir, Options{BaseURL: srv.URL + "/data/", Client: srv.Client(), Files: table(testFiles)})
	want := fmt.Sprintf("checksum mismatch for valid.txt: expected git blob %s, got %s", blobID(testFiles["valid.txt"]), blobID(served["valid.txt"]))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant it to contain %q", err, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "valid.txt")); string(got) != "previous" {
		t.Errorf("valid.txt = %q after a failed download, want the previous contents", got)
	}
	assertFiles(t, dir, "train.txt", "valid.txt") // train.txt came first and is good; no temp files
}

func TestSizeMismatch(t *testing.T) {
	srv := newServer(t, testFiles)
	files := table(testFiles)
	files[1].Size++ // valid.txt
	err := WikiText2(context.Background(), t.TempDir(), Options{BaseURL: srv.URL + "/data/", Client: srv.Client(), Files: files})
	want := fmt.Sprintf("server announces %d bytes, expected %d", len(testFiles["valid.txt"]), files[1].Size)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "valid.txt") {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}

func TestTruncated(t *testing.T) {
	// train.txt has no size in the table, so only the connection can tell
	// that bytes are missing.
	srv := newServer(t, testFiles)
	srv.truncate = "train.txt"
	dir := t.TempDir()
	err := WikiText2(context.Background(), dir, Options{BaseURL: srv.URL + "/data/", Client: srv.Client(), Files: table(testFiles)})
	n := len(testFiles["train.txt"])
	want := fmt.Sprintf("train.txt: transfer truncated after %d of %d bytes", n, n+1000)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
	assertFiles(t, dir)

	// test.txt has a size in the table: a wrong Content-Length is refused
	// before the transfer.
	srv.truncate = "test.txt"
	dir = t.TempDir()
	err = WikiText2(context.Background(), dir, Options{BaseURL: srv.URL + "/data/", Client: srv.Client(), Files: table(testFiles)})
	want = fmt.Sprintf("test.txt: server announces %d bytes, expected %d", len(testFiles["test.txt"])+1000, len(testFiles["test.txt"]))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
	assertFiles(t, dir, "train.txt", "valid.txt")

	// A short body without Content-Length (chunked) is caught by the size.
	short := map[string]string{}
	for k, v := range testFiles {
		short[k] = v
	}
	short["valid.txt"] = testFiles["valid.txt"][:5]
	srv = newServer(t, short)
	srv.chunked = true
	dir = t.TempDir()
	err = WikiText2(context.Background(), dir, Options{BaseURL: srv.URL + "/data/", Client: srv.Client(), Files: table(testFiles)})
	want = fmt.Sprintf("valid.txt: size mismatch: expected %d bytes, got 5", len(testFiles["valid.txt"]))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
	assertFiles(t, dir, "train.txt")
}

func TestHTTPStatus(t *testing.T) {
	srv := newServer(t, testFiles)
	err := WikiText2(context.Background(), t.TempDir(), Options{BaseURL: srv.URL + "/elsewhere/", Client: srv.Client(), Files: table(testFiles)})
	want := "/elsewhere/train.txt: HTTP 404 Not Found"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}

func TestNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	dir := t.TempDir()
	err = WikiText2(context.Background(), dir, Options{BaseURL: "http://" + addr + "/data/", Files: table(testFiles)})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"cannot reach " + addr + ":", "connection refused", "(no network? use --url to point at a mirror)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	}
	assertFiles(t, dir)
}

func TestCanceled(t *testing.T) {
	srv := newServer(t, testFiles)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := WikiText2(ctx, t.TempDir(), Options{BaseURL: srv.URL + "/data/", Client: srv.Client(), Files: table(testFiles)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestBadBaseURL(t *testing.T) {
	err := WikiText2(context.Background(), t.TempDir(), Options{BaseURL: "http://[::1", Files: table(testFiles)})
	if err == nil || !strings.Contains(err.Error(), "bad base URL") {
		t.Fatalf("err = %v, want a bad base URL", err)
	}
}

func TestProgressTo(t *testing.T) {
	if ProgressTo(io.Discard) != nil {
		t.Error("ProgressTo(io.Discard) is not nil")
	}
	var buf bytes.Buffer
	p := ProgressTo(&buf)
	p("a.txt", 0, 2_000_000)
	p("a.txt", 2_000_000, 2_000_000)
	p("b.txt", 500, -1)
	p("b.txt", 1500, 1500)
	out := buf.String()
	if strings.ContainsRune(out, '\r') {
		t.Errorf("carriage return written to a buffer: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "a.txt: 2.0 MB/2.0 MB (100.0%)") || !strings.HasPrefix(lines[1], "b.txt: 1.5 kB/1.5 kB (100.0%)") {
		t.Errorf("output %q, want one final line per file", out)
	}
}
