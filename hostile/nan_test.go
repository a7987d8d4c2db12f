package hostile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

func fmtFloat(v float32) string { return strings.ToLower(fmt.Sprint(v)) }

// TestNaNWeights evaluates deep.pth with every parameter NaN or
// +Inf: a valid file whose loss is NaN. eval must still finish, and --json
// must print valid JSON (NaN as null, which encoding/json would refuse).
func TestNaNWeights(t *testing.T) {
	deep := read(t, "deep.pth")
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		b := rezip(t, deep, func(name string, d []byte) []byte {
			if strings.Contains(name, "/data/") {
				for i := 0; i+4 <= len(d); i += 4 {
					binary.LittleEndian.PutUint32(d[i:], math.Float32bits(v))
				}
			}
			return d
		})
		name := put(t, "nan/"+fmtFloat(v)+".pth", b)
		for _, asJSON := range []bool{false, true} {
			args := []string{"eval", "--model", name, "--data", "corpus", "--max-tokens", "30"}
			if asJSON {
				args = append(args, "--json")
			}
			r := lstmq(t, args...)
			wantOK(t, r)
			if asJSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
					t.Fatalf("%s: eval --json printed %q: %v", name, r.stdout, err)
				}
				if l, ok := m["loss"]; !ok || (l != nil && v != v) {
					t.Errorf("%s: loss %v, want null", name, l)
				}
			}
		}
	}
}
