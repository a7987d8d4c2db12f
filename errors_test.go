package lstmq_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lstmq/lstmq"
	"github.com/lstmq/lstmq/pth"
)

// TestOpenErrorKinds opens bad files and checks that each error is of its
// kind for errors.Is and still names the file.
func TestOpenErrorKinds(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a model at all, just some text\n"), 0o644)
	sd, err := pth.Load(filepath.Join(torchDir, "deep.pth"))
	if err != nil {
		t.Fatal(err)
	}
	// Swap the decoder's weight for the encoder's transposed shape.
	dw := *sd.Tensors["decoder.weight"]
	dw.Shape = []int{dw.Shape[1], dw.Shape[0]}
	sd.Tensors["decoder.weight"] = &dw
	shape := filepath.Join(dir, "shape.pth")
	if err := pth.Save(shape, sd.Keys, sd.Tensors); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(dir, "extra.pth")
	sd.Tensors["decoder.weight"] = sd.Tensors["encoder.weight"]
	sd.Tensors["rnn.weight_xx_l0"] = sd.Tensors["decoder.bias"]
	if err := pth.Save(extra, append(sd.Keys, "rnn.weight_xx_l0"), sd.Tensors); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		kind error
	}{
		{filepath.Join(torchDir, "truncated.pth"), lstmq.ErrTruncated},
		{filepath.Join(torchDir, "truncated_legacy.pth"), lstmq.ErrTruncated},
		{filepath.Join(torchDir, "posix_system.pth"), lstmq.ErrUnsafePickle},
		{filepath.Join(torchDir, "posix_system_legacy.pth"), lstmq.ErrUnsafePickle},
		{text, lstmq.ErrFormat},
		{shape, lstmq.ErrShape},
		{extra, lstmq.ErrKey},
	} {
		_, err := lstmq.Open(c.path)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.path) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line error of kind %q naming the file", c.path, err, c.kind)
		}
	}
}
