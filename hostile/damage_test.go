package hostile

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// models are the real files damaged below: PyTorch zip and legacy
// checkpoints, untied and tied, and lstmq's own quantized safetensors.
var models = []string{"deep.pth", "tied.pth", "deep_legacy.pth", "tied_legacy.pth", "q.safetensors"}

// TestTruncated cuts each model at every 1/16 of its length, 0 included:
// inspect must fail cleanly on each.
func TestTruncated(t *testing.T) {
	for _, m := range models {
		b := read(t, m)
		t.Run(m, func(t *testing.T) {
			for k := range 16 {
				n := len(b) * k / 16
				name := put(t, fmt.Sprintf("trunc/%d-16_%s", k, m), b[:n])
				r := lstmq(t, "inspect", "--model", name)
				wantFail(t, r, name)
				if k == 8 {
					record(t, "truncated", fmt.Sprintf("%s cut to half its length", kind(m)), r)
				}
				if k == 0 {
					record(t, "truncated", "empty model file", r)
				}
				if k == 8 || k == 15 {
					// The other commands that read a model say the same.
					for _, args := range [][]string{
						{"eval", "--model", name, "--data", "corpus"},
						{"generate", "--model", name, "--data", "corpus", "--words", "5"},
						{"quantize", "--model", name, "--data", "corpus", "--out", "trunc/out.safetensors"},
					} {
						rr := lstmq(t, args...)
						wantFail(t, rr, name)
						if rr.stderr != r.stderr {
							t.Errorf("%s says %q, inspect %q", args[0], rr.stderr, r.stderr)
						}
					}
				}
			}
		})
	}
}

// TestFlipped inverts one byte at each of 64 (-short: 16) seeded random
// positions of each model and evaluates the result: it must fail cleanly or
// run (a flipped weight is still a model). The models run in parallel.
func TestFlipped(t *testing.T) {
	first := make([]*result, len(models)) // each model's first refusal, for the table
	where := make([]int, len(models))
	t.Run("models", func(t *testing.T) {
		for i, m := range models {
			b := read(t, m)
			t.Run(m, func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(i), 64))
				fails, flips := 0, 64
				if testing.Short() {
					flips = 16
				}
				for range flips {
					pos := rng.IntN(len(b))
					c := []byte(string(b))
					c[pos] ^= 0xff
					name := put(t, filepath.Join("flip", m), c)
					r := lstmq(t, "eval", "--model", name, "--data", "corpus", "--max-tokens", "30", "--bptt", "10")
					wantFailOrOK(t, r, name)
					if r.code != 0 {
						if fails++; fails == 1 {
							first[i], where[i] = &r, pos
						}
					}
				}
				t.Logf("%s: %d of %d flips refused, the rest evaluated", m, fails, flips)
			})
		}
	})
	for i, r := range first {
		if r != nil {
			record(t, "flipped", fmt.Sprintf("%s with byte %d inverted", kind(models[i]), where[i]), *r)
		}
	}
}

func kind(m string) string {
	switch {
	case strings.HasSuffix(m, ".safetensors"):
		return "quantized .safetensors"
	case strings.Contains(m, "legacy"):
		return "legacy .pth"
	}
	return "zip .pth"
}
