package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestInspectTiedFixtures: for PyTorch's tied files, zip and legacy,
// inspect prints PyTorch's unique-parameter count and, as Size (MB), the
// file's size / 1e6: what torch.save wrote in the file's own layout
// (tied_sizes.json, from testdata/torch/gen_tied.py).
func TestInspectTiedFixtures(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(torchDir, "tied_sizes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Params int
		Bytes  int64
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		code, out, errs := run(t, "inspect", "--model", filepath.Join(torchDir, name))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
		if !strings.Contains(out, "Parameters: "+strconv.Itoa(w.Params)+"\n") {
			t.Errorf("%s: want Parameters: %d in\n%s", name, w.Params, out)
		}
		if mb := strconv.FormatFloat(float64(w.Bytes)/1e6, 'g', -1, 64); !strings.Contains(out, "Size (MB): "+mb+" ") {
			t.Errorf("%s: want Size (MB): %s (the file's) in\n%s", name, mb, out)
		}
	}
}
