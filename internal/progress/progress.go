package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Default redraw intervals.
const (
	TerminalInterval = 100 * time.Millisecond
	PlainInterval    = 3 * time.Second
)

// barWidth is the number of cells between the brackets of a terminal bar;
// on a narrow terminal it shrinks to minBarWidth, then the bar goes.
const (
	barWidth    = 28
	minBarWidth = 8
)

// Bar reports progress towards a total. Its methods are safe for concurrent
// use, and are no-ops on a nil *Bar.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	total    int64
	n        int64
	tty      bool
	width    int // terminal width in columns, 0 if unknown
	interval time.Duration
	now      func() time.Time
	start    time.Time
	last     time.Time // time of the last report
	done     bool
}

// New returns a bar that reports on w the progress of label towards total
// units (total ≤ 0 if unknown). unit names what is counted ("tokens", "B").
// It returns nil, a valid no-op bar, if w is nil or io.Discard.
func New(w io.Writer, label string, total int64, unit string) *Bar {
	if w == nil || w == io.Discard {
		return nil
	}
	b := newBar(w, label, total, unit, IsTerminal(w), time.Now)
	if b.tty {
		b.width = termWidth(w.(*os.File).Fd())
	}
	return b
}

func newBar(w io.Writer, label string, total int64, unit string, tty bool, now func() time.Time) *Bar {
	b := &Bar{w: w, label: label, unit: unit, total: total, tty: tty, now: now}
	b.interval = PlainInterval
	if tty {
		b.interval = TerminalInterval
	}
	b.start = now()
	b.last = b.start
	return b
}

// IsTerminal reports whether w is an *os.File open on a terminal, and the
// environment does not say the terminal is dumb (TERM=dumb).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(f.Fd())
}

// SetInterval sets the least time between two reports and returns b.
func (b *Bar) SetInterval(d time.Duration) *Bar {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	b.interval = d
	b.mu.Unlock()
	return b
}

// SetTotal changes the total, for work whose size becomes known late.
func (b *Bar) SetTotal(total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.total = total
	b.mu.Unlock()
}

// Add records n more units done.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.n += n
	b.maybeReport()
	b.mu.Unlock()
}

// Set records that n units are done in all.
func (b *Bar) Set(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.n = n
	b.maybeReport()
	b.mu.Unlock()
}

// Done reports the final state and ends the bar's line; later calls do nothing.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	now := b.now()
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", b.fitLine(now, true))
	} else {
		fmt.Fprintln(b.w, b.plainLine(now, true))
	}
}

// maybeReport prints a report if the interval has passed; b.mu is held.
func (b *Bar) maybeReport() {
	if b.done {
		return
	}
	now := b.now()
	if now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.fitLine(now, false))
	} else {
		fmt.Fprintln(b.w, b.plainLine(now, false))
	}
}

// stats returns the elapsed time, the rate in units per second (0 before any
// time has passed) and the estimated time left (−1 when unknown).
func (b *Bar) stats(now time.Time) (elapsed time.Duration, rate float64, eta time.Duration) {
	elapsed = now.Sub(b.start)
	eta = -1
	if elapsed > 0 {
		rate = float64(b.n) / elapsed.Seconds()
	}
	if b.total > 0 && rate > 0 {
		left := float64(b.total-b.n) / rate
		eta = time.Duration(math.Max(left, 0) * float64(time.Second))
	}
	return elapsed, rate, eta
}

// plainLine formats "label: n/total unit (p%), r unit/s, ETA t", or with
// final "label: n/total unit (p%), r unit/s, took t".
func (b *Bar) plainLine(now time.Time, final bool) string {
	elapsed, rate, eta := b.stats(now)
	var s strings.Builder
	s.WriteString(b.label)
	s.WriteString(": ")
	s.WriteString(b.count())
	if b.total > 0 {
		fmt.Fprintf(&s, " (%.1f%%)", b.percent())
	}
	s.WriteString(", ")
	s.WriteString(b.rate(rate))
	switch {
	case final:
		s.WriteString(", took ")
		s.WriteString(FormatDuration(elapsed))
	case eta >= 0:
		s.WriteString(", ETA ")
		s.WriteString(FormatDuration(eta))
	}
	return s.String()
}

// terminalLine formats "label  p% [===>   ] n/total unit  r unit/s  ETA t"
// with a bar of cells cells (none if cells is 0).
func (b *Bar) terminalLine(now time.Time, final bool, cells int) string {
	elapsed, rate, eta := b.stats(now)
	var s strings.Builder
	s.WriteString(b.label)
	if b.total > 0 {
		p := b.percent()
		fmt.Fprintf(&s, " %3.0f%%", math.Floor(p))
		if cells > 0 {
			fill := int(p / 100 * float64(cells))
			fill = min(max(fill, 0), cells)
			s.WriteString(" [")
			s.WriteString(strings.Repeat("=", fill))
			if fill < cells {
				s.WriteByte('>')
				s.WriteString(strings.Repeat(" ", cells-fill-1))
			}
			s.WriteByte(']')
		}
	}
	s.WriteByte(' ')
	s.WriteString(b.count())
	s.WriteString("  ")
	s.WriteString(b.rate(rate))
	switch {
	case final:
		s.WriteString("  took ")
		s.WriteString(FormatDuration(elapsed))
	case eta >= 0:
		s.WriteString("  ETA ")
		s.WriteString(FormatDuration(eta))
	}
	return s.String()
}

// fitLine formats the terminal line to fit in one column less than the
// terminal's width, so that it never wraps (a wrapped line cannot be redrawn
// with a carriage return): it narrows the bar, down to minBarWidth cells,
// then drops it, then cuts the line.
func (b *Bar) fitLine(now time.Time, final bool) string {
	line := b.terminalLine(now, final, barWidth)
	if b.width <= 1 || utf8.RuneCountInString(line) < b.width {
		return line
	}
	over := utf8.RuneCountInString(line) - (b.width - 1)
	cells := barWidth - over
	if cells < minBarWidth {
		cells = 0
	}
	line = b.terminalLine(now, final, cells)
	if r := []rune(line); len(r) >= b.width {
		line = string(r[:b.width-1])
	}
	return line
}

func (b *Bar) percent() float64 {
	return 100 * float64(b.n) / float64(b.total)
}

// count formats "n/total unit", or "n unit" when the total is unknown.
func (b *Bar) count() string {
	if b.unit == "B" {
		if b.total > 0 {
			return formatBytes(float64(b.n)) + "/" + formatBytes(float64(b.total))
		}
		return formatBytes(float64(b.n))
	}
	if b.total > 0 {
		return fmt.Sprintf("%d/%d %s", b.n, b.total, b.unit)
	}
	return fmt.Sprintf("%d %s", b.n, b.unit)
}

// rate formats a rate as "r unit/s".
func (b *Bar) rate(r float64) string {
	if b.unit == "B" {
		return formatBytes(r) + "/s"
	}
	if r >= 100 {
		return fmt.Sprintf("%.0f %s/s", r, b.unit)
	}
	return fmt.Sprintf("%.1f %s/s", r, b.unit)
}

// formatBytes formats a byte count with a decimal (SI) prefix: "512 B",
// "3.4 kB", "10.8 MB".
func formatBytes(v float64) string {
	const prefixes = "kMGTPE"
	if v < 1000 {
		return fmt.Sprintf("%.0f B", v)
	}
	i := -1
	for v >= 1000 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %cB", v, prefixes[i])
}

// FormatDuration formats d rounded to whole seconds, briefly: "0s", "13s",
// "2m05s", "1h02m" (whole minutes from an hour on).
func FormatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 0:
		return "-" + FormatDuration(-d)
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := (s + 30) / 60
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}
