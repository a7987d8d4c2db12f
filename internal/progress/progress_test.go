package progress

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time           { return c.t }
func (c *clock) advance(d time.Duration)  { c.t = c.t.Add(d) }
func newClock() *clock                    { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func lines(s string) []string             { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
func plainBar(w io.Writer, c *clock) *Bar { return newBar(w, "eval", 82000, "tokens", false, c.now) }
func termBar(w io.Writer, c *clock) *Bar  { return newBar(w, "eval", 82000, "tokens", true, c.now) }

func TestPlain(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := plainBar(&buf, c).SetInterval(2 * time.Second)

	// 12000 tokens in 2 s: 6000 tokens/s, 70000 left → ETA 11.67 s → "12s".
	c.advance(1 * time.Second)
	b.Add(5000)
	if buf.Len() != 0 {
		t.Fatalf("reported before the interval: %q", buf.String())
	}
	c.advance(1 * time.Second)
	b.Add(7000)
	want := "eval: 12000/82000 tokens (14.6%), 6000 tokens/s, ETA 12s\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}

	// Within the interval of the last report: nothing.
	c.advance(1500 * time.Millisecond)
	b.Add(1000)
	if n := len(lines(buf.String())); n != 1 {
		t.Fatalf("%d lines after 1.5 s, want 1", n)
	}

	// 41000 tokens in 4 s: 10250 tokens/s, 41000 left → 4 s.
	c.advance(500 * time.Millisecond)
	b.Set(41000)
	got := lines(buf.String())
	if want := "eval: 41000/82000 tokens (50.0%), 10250 tokens/s, ETA 4s"; len(got) != 2 || got[1] != want {
		t.Fatalf("got %q, want second line %q", got, want)
	}

	// Done: 82000 tokens in 10 s.
	c.advance(6 * time.Second)
	b.Set(82000)
	b.Done()
	b.Done()
	b.Add(1)
	got = lines(buf.String())
	if want := "eval: 82000/82000 tokens (100.0%), 8200 tokens/s, took 10s"; got[len(got)-1] != want {
		t.Fatalf("last line %q, want %q", got[len(got)-1], want)
	}
	if strings.Count(buf.String(), "took") != 1 {
		t.Errorf("Done printed more than once:\n%s", buf.String())
	}
	if strings.ContainsRune(buf.String(), '\r') || strings.ContainsRune(buf.String(), '\x1b') {
		t.Errorf("plain output holds a carriage return or escape: %q", buf.String())
	}
}

func TestPlainDefaultInterval(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := plainBar(&buf, c)
	for i := 0; i < 100; i++ { // 10 s in steps of 100 ms
		c.advance(100 * time.Millisecond)
		b.Add(100)
	}
	// Reports at 3, 6 and 9 s.
	if n := len(lines(buf.String())); n != 3 {
		t.Errorf("%d lines in 10 s with a %v interval, want 3:\n%s", n, PlainInterval, buf.String())
	}
}

func TestUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := newBar(&buf, "train", 0, "batches", false, c.now).SetInterval(time.Second)
	c.advance(4 * time.Second)
	b.Add(10) // 2.5 batches/s, no percent, no ETA
	b.Done()
	want := "train: 10 batches, 2.5 batches/s\ntrain: 10 batches, 2.5 batches/s, took 4s\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestBytes(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := newBar(&buf, "train.txt", 10_780_000, "B", false, c.now).SetInterval(time.Second)
	c.advance(2 * time.Second)
	b.Set(3_400_000) // 1.7 MB/s; 7.38 MB left → 4.34 s
	want := "train.txt: 3.4 MB/10.8 MB (31.5%), 1.7 MB/s, ETA 4s\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := termBar(&buf, c)
	// 12000 in 2 s as in TestPlain; 14.6% of 28 cells = 4.09 → 4 '='.
	c.advance(2 * time.Second)
	b.Add(12000)
	want := "\reval  14% [====>                       ] 12000/82000 tokens  6000 tokens/s  ETA 12s\x1b[K"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	// Redraws at most every 100 ms.
	buf.Reset()
	for i := 0; i < 10; i++ { // 1 s in steps of 10 ms
		c.advance(10 * time.Millisecond)
		b.Add(10)
	}
	if n := strings.Count(buf.String(), "\r"); n != 1 {
		t.Errorf("%d redraws in 100 ms, want 1", n)
	}
	buf.Reset()
	c.advance(time.Second)
	b.Set(82000)
	b.Done()
	got := buf.String()
	if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Errorf("Done output %q does not end the line once", got)
	}
	if !strings.Contains(got, "100% [============================] 82000/82000 tokens") || !strings.Contains(got, "took 3s") {
		t.Errorf("final line %q lacks the full bar or the time taken", got)
	}
}

func TestTerminalWidth(t *testing.T) {
	const full = "eval  14% [====>                       ] 12000/82000 tokens  6000 tokens/s  ETA 12s" // 83 columns
	for _, tc := range []struct {
		width int
		want  string
	}{
		{0, full},
		{84, full},
		// Needs 79 columns: 4 fewer cells.
		{80, "eval  14% [===>" + strings.Repeat(" ", 20) + "] 12000/82000 tokens  6000 tokens/s  ETA 12s"},
		// Needs 69 columns: 14 cells.
		{70, "eval  14% [==>" + strings.Repeat(" ", 11) + "] 12000/82000 tokens  6000 tokens/s  ETA 12s"},
		// Needs 59: 4 cells would be too few, so no bar (52 columns).
		{60, "eval  14% 12000/82000 tokens  6000 tokens/s  ETA 12s"},
		// Without the bar and still too long: cut to 39 columns.
		{40, "eval  14% 12000/82000 tokens  6000 toke"},
	} {
		if tc.width > 0 && len(tc.want) >= tc.width {
			t.Fatalf("width %d: test expects %d columns", tc.width, len(tc.want))
		}
		var buf bytes.Buffer
		c := newClock()
		b := termBar(&buf, c)
		b.width = tc.width
		c.advance(2 * time.Second)
		b.Add(12000)
		if want := "\r" + tc.want + "\x1b[K"; buf.String() != want {
			t.Errorf("width %d:\ngot  %q\nwant %q", tc.width, buf.String(), want)
		}
	}
}

func TestNilAndDiscard(t *testing.T) {
	for _, b := range []*Bar{nil, New(nil, "x", 10, "u"), New(io.Discard, "x", 10, "u")} {
		if b != nil {
			t.Fatalf("New on a nil or discarding writer returned %v, want nil", b)
		}
		b.Add(1)
		b.Set(5)
		b.SetTotal(3)
		b.SetInterval(time.Second).Add(2)
		b.Done()
	}
	allocs := testing.AllocsPerRun(100, func() {
		var b *Bar
		b.Add(1)
	})
	if allocs != 0 {
		t.Errorf("Add on a nil bar allocates %v times", allocs)
	}
}

func TestIsTerminal(t *testing.T) {
	var buf bytes.Buffer
	if IsTerminal(&buf) {
		t.Error("a bytes.Buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		t.Setenv("TERM", "xterm")
		if !IsTerminal(tty) {
			t.Error("/dev/tty is not a terminal")
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1400 * time.Millisecond, "1s"},
		{1500 * time.Millisecond, "2s"},
		{59 * time.Second, "59s"},
		{125 * time.Second, "2m05s"},
		{3599 * time.Second, "59m59s"},
		{3600*time.Second + 150*time.Second, "1h03m"},
		{26 * time.Hour, "26h00m"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	b.Run("bar=nil", func(b *testing.B) {
		var p *Bar
		for i := 0; i < b.N; i++ {
			p.Add(1)
		}
	})
	b.Run("bar=plain", func(b *testing.B) {
		p := New(&bytes.Buffer{}, "x", int64(b.N), "u")
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p.Add(1)
		}
	})
}
