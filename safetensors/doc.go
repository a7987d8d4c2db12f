// Package safetensors reads and writes the safetensors tensor file format
// (https://github.com/huggingface/safetensors):
//
//	[8 bytes]  N, the header length, unsigned little-endian
//	[N bytes]  JSON: {"name": {"dtype": "F32", "shape": [2, 3],
//	                           "data_offsets": [begin, end]}, ...,
//	                  "__metadata__": {"key": "value", ...}}
//	[rest]     the tensors' bytes, row-major little-endian; tensor data is
//	           [begin, end) relative to the start of this section
//
// The reader treats the file as outside input: every length and offset is
// checked against the file before use, and errors name the file and the
// tensor. The writer replaces files atomically.
package safetensors
