package checkpoint

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/pth"
)

// TestTiedFixtures checks the tied fixtures, zip and legacy, against
// PyTorch's numbers (tied_sizes.json, written by gen_tied.py): loaded
// tied, the unique parameter count of model.parameters(), and the file's
// size both as counted (LayoutOf(sd).Size) and as written: saving the
// parameters in the file's layout, to a file of the same base name (which
// names a zip archive's folder), writes the file again byte for byte. The
// example's own files (rnn/) need no layout: SavePth writes them.
func TestTiedFixtures(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(torchDir, "tied_sizes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Format         string
		Params         int
		StateDictNumel int `json:"state_dict_numel"`
		Bytes          int64
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	formats := map[string]int{}
	for name, w := range want {
		formats[w.Format]++
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(torchDir, name)
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(file)) != w.Bytes {
				t.Fatalf("%d bytes, gen_tied.py saw %d", len(file), w.Bytes)
			}
			sd, err := pth.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if sd.Legacy != (w.Format == "legacy") {
				t.Errorf("Legacy %v, the file is %s", sd.Legacy, w.Format)
			}
			p, err := ParamsFromStateDict(sd, "")
			if err != nil {
				t.Fatal(err)
			}
			if !Tied(p) {
				t.Fatal("decoder.weight not tied to encoder.weight")
			}
			if n := CountParams(p); n != w.Params {
				t.Errorf("CountParams %d, PyTorch counts %d (%d with the tied matrix twice)", n, w.Params, w.StateDictNumel)
			}
			l := LayoutOf(sd)
			if n, err := l.Size(path, p); err != nil || n != w.Bytes {
				t.Errorf("Size: %d, %v; torch.save wrote %d", n, err, w.Bytes)
			}
			out := filepath.Join(t.TempDir(), filepath.Base(name))
			if err := l.Save(out, p); err != nil {
				t.Fatal(err)
			}
			sameBytes(t, "Layout.Save", out, file)
			if strings.HasPrefix(name, "rnn/") {
				if err := SavePth(out, p); err != nil {
					t.Fatal(err)
				}
				sameBytes(t, "SavePth", out, file)
				if n, err := StateDictSizeAs(p, path); err != nil || n != w.Bytes {
					t.Errorf("StateDictSizeAs: %d, %v; torch.save wrote %d", n, err, w.Bytes)
				}
			}
		})
	}
	if formats["zip"] == 0 || formats["legacy"] == 0 {
		t.Errorf("fixtures by format %v: want both", formats)
	}
}

func sameBytes(t *testing.T, what, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: %d bytes, torch wrote %d; first difference at offset %d", what, len(got), len(want), i)
	}
}
