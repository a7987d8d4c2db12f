package download

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lstmq/lstmq/internal/atomicfile"
	"github.com/lstmq/lstmq/internal/progress"
)

// DefaultBaseURL is where WikiText2 fetches from unless told otherwise: the
// data folder of PyTorch's word_language_model example on GitHub.
const DefaultBaseURL = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/"

// File is a file to fetch and how to verify it.
type File struct {
	Name   string // file name, relative to the base URL and the target directory
	BlobID string // git blob id of the contents, 40 lowercase hex digits
	Size   int64  // size in bytes, or -1 if not checked
}

// WikiText2Files lists the files of WikiText-2 as PyTorch's example ships
// them (blob ids from `git ls-tree` of pytorch/examples).
var WikiText2Files = []File{
	{Name: "train.txt", BlobID: "2d84b35af79e411d73ea7cae83c73964c6ac83b4", Size: -1},
	{Name: "valid.txt", BlobID: "eec944eb2d9e46061cd34a6913528797db6842fc", Size: 1121681},
	{Name: "test.txt", BlobID: "6f3fc88e4cd88456ea892971f9f12243e8428624", Size: 1256449},
}

// maxUnknownSize bounds the download of a file whose size is not in the
// table, so that a misbehaving server cannot fill the memory.
const maxUnknownSize = 256 << 20

// Options configures WikiText2. The zero value fetches from DefaultBaseURL
// with http.DefaultClient and reports no progress.
type Options struct {
	BaseURL string       // URL of the folder holding the files; "" means DefaultBaseURL
	Client  *http.Client // nil means http.DefaultClient
	// Progress, if not nil, is called as each file downloads with the bytes
	// received so far and the total (-1 while unknown), and once at the end
	// of each file with done == total, also for a file already present.
	Progress func(file string, done, total int64)
	// Files overrides the table of files to fetch; nil means WikiText2Files.
	Files []File
}

// WikiText2 downloads WikiText-2 into dir (created if missing), verifying
// every file, and skips files already there with the right contents.
func WikiText2(ctx context.Context, dir string, opt Options) error {
	files := opt.Files
	if files == nil {
		files = WikiText2Files
	}
	base := opt.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("download: bad base URL %q: %w", base, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	for _, f := range files {
		if err := fetch(ctx, baseURL, dir, f, &opt); err != nil {
			return err
		}
	}
	return nil
}

// fetch downloads one file unless it is already present and verified.
func fetch(ctx context.Context, base *url.URL, dir string, f File, opt *Options) error {
	path := filepath.Join(dir, f.Name)
	if id, n, err := fileBlobID(path); err == nil && id == f.BlobID && (f.Size < 0 || n == f.Size) {
		report(opt, f.Name, n, n)
		return nil
	}

	u := base.JoinPath(f.Name)
	src := u.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	client := opt.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("download %s: %w", src, ctx.Err())
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("cannot reach %s: %w (no network? use --url to point at a mirror)", u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: HTTP %s", src, resp.Status)
	}

	total := resp.ContentLength // -1 if unknown
	if f.Size >= 0 && total >= 0 && total != f.Size {
		return fmt.Errorf("download %s: server announces %d bytes, expected %d", src, total, f.Size)
	}
	limit := int64(maxUnknownSize)
	switch {
	case f.Size >= 0:
		limit = f.Size
	case total >= 0:
		limit = total
	}
	var buf bytes.Buffer
	buf.Grow(int(max(total, 0)))
	n, err := io.Copy(&buf, &progressReader{r: io.LimitReader(resp.Body, limit+1), opt: opt, name: f.Name, total: total})
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("download %s: %w", src, ctx.Err())
	case errors.Is(err, io.ErrUnexpectedEOF) && total >= 0:
		return fmt.Errorf("download %s: transfer truncated after %d of %d bytes", src, n, total)
	case err != nil:
		return fmt.Errorf("download %s: after %d bytes: %w", src, n, err)
	case n > limit:
		return fmt.Errorf("download %s: more than the expected %d bytes", src, limit)
	case total >= 0 && n != total:
		return fmt.Errorf("download %s: transfer truncated after %d of %d bytes", src, n, total)
	case f.Size >= 0 && n != f.Size:
		return fmt.Errorf("download %s: size mismatch: expected %d bytes, got %d", src, f.Size, n)
	}
	id, _, _ := GitBlobID(bytes.NewReader(buf.Bytes()))
	if id != f.BlobID {
		return fmt.Errorf("download %s: checksum mismatch for %s: expected git blob %s, got %s (%d bytes)", src, f.Name, f.BlobID, id, n)
	}
	err = atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
	if err != nil {
		return fmt.Errorf("download %s: %w", src, err)
	}
	report(opt, f.Name, n, n)
	return nil
}

func report(opt *Options, name string, done, total int64) {
	if opt.Progress != nil {
		opt.Progress(name, done, total)
	}
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	opt   *Options
	name  string
	total int64
	done  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += int64(n)
		report(p.opt, p.name, p.done, p.total)
	}
	return n, err
}

// fileBlobID returns the git blob id and size of the file at path.
func fileBlobID(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return GitBlobID(f)
}

// GitBlobID returns the git blob id of everything r yields, the lowercase
// hex SHA-1 of "blob <size>\x00" followed by the contents, and the size. A
// reader that is also an io.Seeker (such as an *os.File) is read once from
// its current offset; any other reader is read into memory first.
func GitBlobID(r io.Reader) (string, int64, error) {
	if s, ok := r.(io.Seeker); ok {
		if size, ok := remaining(s); ok {
			h := sha1.New()
			h.Write(blobHeader(size))
			n, err := io.Copy(h, r)
			if err != nil {
				return "", 0, fmt.Errorf("git blob id: %w", err)
			}
			if n != size {
				return "", 0, fmt.Errorf("git blob id: read %d bytes, expected %d (file changed?)", n, size)
			}
			return hex.EncodeToString(h.Sum(nil)), n, nil
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", 0, fmt.Errorf("git blob id: %w", err)
	}
	h := sha1.New()
	h.Write(blobHeader(int64(len(data))))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), int64(len(data)), nil
}

// remaining returns the number of bytes from s's offset to its end, leaving
// the offset where it was; ok is false if s cannot seek (a pipe).
func remaining(s io.Seeker) (n int64, ok bool) {
	start, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, false
	}
	if _, err := s.Seek(start, io.SeekStart); err != nil {
		return 0, false
	}
	return end - start, true
}

func blobHeader(size int64) []byte {
	return []byte("blob " + strconv.FormatInt(size, 10) + "\x00")
}

// ProgressTo returns an Options.Progress function that shows one progress
// bar per file on w (see package progress); it returns nil for io.Discard.
func ProgressTo(w io.Writer) func(file string, done, total int64) {
	if w == nil || w == io.Discard {
		return nil
	}
	var (
		bar *progress.Bar
		cur string
	)
	return func(file string, done, total int64) {
		if bar == nil || file != cur {
			bar, cur = progress.New(w, file, total, "B"), file
		}
		if total >= 0 {
			bar.SetTotal(total)
		}
		bar.Set(done)
		if done == total {
			bar.Done()
			bar = nil
		}
	}
}
