package hostile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stFile is a safetensors file: the header length n (or len(hdr) when n is
// 0), the header, then data.
func stFile(n uint64, hdr string, data []byte) []byte {
	if n == 0 {
		n = uint64(len(hdr))
	}
	b := binary.LittleEndian.AppendUint64(nil, n)
	return append(append(b, hdr...), data...)
}

// lstmqMeta is the metadata of a valid lstmq fp32 model of one token.
func lstmqMeta(ntoken string) string {
	m, _ := json.Marshal(map[string]string{"format": "lstmq", "format_version": "1", "ntoken": ntoken, "ninp": "1",
		"nhid": "1", "nlayers": "1", "dropout": "0", "scheme": "fp32", "act_qmax": "127"})
	return string(m)
}

func TestSafetensors(t *testing.T) {
	meta := `"__metadata__":` + lstmqMeta("1")
	f32 := func(name string, shape string, begin, end int64) string {
		return fmt.Sprintf(`%q:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, name, shape, begin, end)
	}
	tests := []struct {
		name, what string
		file       []byte
	}{
		{"header_2_63", "header length 2^63", stFile(1<<63, "{}", nil)},
		{"header_100mb", "header length 100 MB in a 1 KB file", stFile(100<<20, "{"+strings.Repeat(" ", 1000)+"}", nil)},
		{"header_past_eof", "header length past the end of the file", stFile(1000, `{"a":1}`, nil)},
		{"invalid_json", "invalid JSON header", stFile(0, `{"a":{"dtype":"F32",`, nil)},
		{"json_trailing", "JSON header followed by garbage", stFile(0, `{} {}`, nil)},
		{"deep_json", "JSON nested 10^5 deep", stFile(0, `{"a":`+strings.Repeat("[", 1e5)+strings.Repeat("]", 1e5)+"}", nil)},
		{"unknown_dtype", "unknown dtype", stFile(0, `{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}`, floats(1))},
		{"overlap", "overlapping data offsets", stFile(0, "{"+f32("a", "[2]", 0, 8)+","+f32("b", "[2]", 4, 12)+"}", floats(3))},
		{"past_eof", "data offsets past the end of the file", stFile(0, "{"+f32("a", "[4]", 0, 16)+"}", floats(1))},
		{"hole", "a hole between tensors", stFile(0, "{"+f32("a", "[1]", 0, 4)+","+f32("b", "[1]", 8, 12)+"}", floats(3))},
		{"claims_1e12", "1 KB .safetensors claiming 10^12 elements",
			stFile(0, "{"+f32("a", "[1000000000000]", 0, 4e12)+"}", floats(200))},
		{"shape_overflow", "shape 2^62 × 4", stFile(0, "{"+f32("a", fmt.Sprintf("[%d,4]", int64(1)<<62), 0, 16)+"}", floats(4))},
		{"negative_shape", "negative dimension", stFile(0, "{"+f32("a", "[-4]", 0, 16)+"}", floats(4))},
		{"negative_offset", "negative data offset", stFile(0, "{"+f32("a", "[1]", -4, 0)+"}", floats(1))},
		{"duplicate", "a tensor named twice", stFile(0, "{"+f32("a", "[1]", 0, 4)+","+f32("a", "[1]", 4, 8)+"}", floats(2))},
		{"not_lstmq", "valid safetensors, not an lstmq model", stFile(0, "{"+f32("a", "[1]", 0, 4)+"}", floats(1))},
		{"ntoken_1e12", "lstmq metadata claiming 10^12 tokens", stFile(0, `{"__metadata__":`+lstmqMeta("1000000000000")+"}", nil)},
		{"missing_tensor", "lstmq model missing its tensors", stFile(0, "{"+meta+"}", nil)},
		{"wrong_shape", "lstmq model with a wrong tensor shape", stFile(0, "{"+meta+","+f32("encoder.weight", "[2,1]", 0, 8)+"}", floats(2))},
		{"vocab_bomb", "vocab metadata that is not a word list", stFile(0, `{"__metadata__":`+strings.Replace(lstmqMeta("1"), `"act_qmax"`, `"vocab":"[[[[[","act_qmax"`, 1)+"}", nil)},
	}
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			name := put(t, "st/"+c.name+".safetensors", c.file)
			r := lstmq(t, "inspect", "--model", name)
			wantFail(t, r, name)
			record(t, "safetensors", c.what, r)
		})
	}
	// Sparse files of 4 GB: they cost no disk, and must cost no memory
	// either (the header is checked against the size before the data is
	// read).
	for _, c := range []struct {
		name, what string
		head       []byte
	}{
		{"sparse.safetensors", "4 GB sparse .safetensors (a 1-tensor header, then zeros)",
			stFile(0, "{"+f32("a", "[1]", 0, 4)+"}", floats(1))},
		{"sparse_q.safetensors", "q.safetensors followed by 4 GB of zeros", read(t, qmodel)},
		{"sparse.pth", "deep.pth followed by 4 GB of zeros", read(t, "deep.pth")},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := put(t, "st/"+c.name, c.head)
			if err := os.Truncate(filepath.Join(work, name), 4<<30); err != nil {
				t.Skip("no sparse files here:", err)
			}
			r := lstmq(t, "inspect", "--model", name)
			wantFail(t, r, name)
			record(t, "safetensors", c.what, r)
			os.Remove(filepath.Join(work, name))
		})
	}
	// A quantized model must not be quantized again, and the float32 .pth
	// is needed for it.
	r := lstmq(t, "quantize", "--model", qmodel, "--data", "corpus", "--out", "st/again.safetensors")
	wantFail(t, r, qmodel)
	record(t, "safetensors", "quantizing a quantized model", r)
}
