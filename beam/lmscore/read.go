package lmscore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn4x1[context.Context, fileio.ReadableFile, func(Line), func(Failure), error](&readLinesFn{})
	register.Emitter1[Line]()
	register.Emitter1[Failure]()
}

// MaxLineBytes is the longest line Read takes, as `lstmq score` reads its
// input; a longer line is a failure.
const MaxLineBytes = 8 << 20

// failTextBytes is how much of an unread (too long) line a failure keeps.
const failTextBytes = 1 << 10

// Line is one line of an input file.
type Line struct {
	File string // the path as the glob matched it
	Line int64  // from 1
	Text string // without its "\n"
}

// Failure is a line that could not be scored, and why.
type Failure struct {
	File  string
	Line  int64
	Text  string // the line (its first kilobyte when it was too long to read)
	Error string
}

// Read returns the lines of the files that glob matches, as a
// PCollection<Line>, and the lines longer than MaxLineBytes, as a
// PCollection<Failure>. It fails the pipeline when the glob matches no
// file. Files ending in .gz are decompressed.
func Read(s beam.Scope, glob string) (lines, failures beam.PCollection) {
	s = s.Scope("lmscore.Read")
	files := fileio.MatchFiles(s, glob, fileio.MatchEmptyDisallow())
	return beam.ParDo2(s, &readLinesFn{}, fileio.ReadMatches(s, files, fileio.ReadDirectorySkip()))
}

// readLinesFn emits the lines of a file, numbered from 1.
type readLinesFn struct{}

func (fn *readLinesFn) ProcessElement(ctx context.Context, file fileio.ReadableFile, emit func(Line), fail func(Failure)) error {
	rc, err := file.Open(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", file.Metadata.Path, err)
	}
	defer rc.Close()
	if err := readLines(ctx, rc, file.Metadata.Path, emit, fail); err != nil {
		return fmt.Errorf("read %s: %w", file.Metadata.Path, err)
	}
	return nil
}

// readLines calls emit for every line of r, as `lstmq score` splits its
// input: at "\n", a last line without one included; fail for a line
// longer than MaxLineBytes.
func readLines(ctx context.Context, r io.Reader, name string, emit func(Line), fail func(Failure)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := int64(1); ; n++ {
		text, long, err := readLine(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if long {
			failedMetric.Inc(ctx, 1)
			fail(Failure{File: name, Line: n, Text: text, Error: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)})
			continue
		}
		emit(Line{File: name, Line: n, Text: text})
	}
}

// readLine returns the next line without its "\n", or io.EOF at the end.
// A line longer than MaxLineBytes is skipped to its end; its first
// failTextBytes come back with long set.
func readLine(br *bufio.Reader) (text string, long bool, err error) {
	var buf []byte
	for {
		part, err := br.ReadSlice('\n')
		if !long && len(buf)+len(part) > MaxLineBytes {
			long = true
			buf = append(buf, part...)
			buf = buf[:min(len(buf), failTextBytes)]
		} else if !long {
			buf = append(buf, part...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
			if !long {
				buf = buf[:len(buf)-1]
			}
			return string(buf), long, nil
		case err == io.EOF && (len(buf) > 0 || long):
			return string(buf), long, nil
		default:
			return "", false, err
		}
	}
}
