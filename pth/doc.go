// Package pth reads and writes PyTorch state_dict checkpoints, the files
// written by torch.save(model.state_dict(), path), and reads the
// whole-module checkpoints of the word_language_model example,
// torch.save(model, path), as the state dicts they hold.
//
// Two container formats are read:
//
//   - zip (PyTorch >= 1.6): <prefix>/data.pkl holds a pickled OrderedDict
//     whose tensors name their storages through persistent ids
//     ('storage', torch.FloatStorage, key, location, numel); the raw
//     little-endian bytes of storage key live in <prefix>/data/<key>.
//     <prefix>/byteorder, when present, must say "little".
//   - legacy (torch.save(..., _use_new_zipfile_serialization=False)): a
//     stream of pickles — magic number 0x1950a86a20f9469cfc6c, protocol
//     1001, system info, the state dict itself, the list of storage keys —
//     followed, for each key in that list, by an int64 element count and
//     the storage's raw bytes.
//
// The pickle machine is github.com/nlpodyssey/gopickle, but nothing from the
// file reaches it unchecked. Every pickle is first walked opcode by opcode:
// each length is checked against the bytes that are really there before
// anything is allocated, opcodes a state_dict never uses (extensions,
// out-of-band buffers, INST/OBJ) are refused, and every global must be on an
// allow-list: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter, the torch.*Storage classes, and for the
// state dicts of quantize_dynamic'd models torch._utils._rebuild_qtensor,
// torch.QInt8Storage, torch.qint8, torch.per_tensor_affine,
// torch.per_channel_affine and torch.ScriptObject, whose BUILD state must
// name one of the two classes quantized LSTMs and Linears pickle
// (LinearPackedParams, CellParams; see quantized.go). Anything else is
// refused with an error naming it ("refusing to load global posix.system",
// "refusing to load torch.ScriptObject of class …"); other quantized
// checkpoints (quint8, float16 dynamic quantization, …) are recognised and
// refused with their own error. Storage sizes are checked against the file
// size, and the tensor views (offset, sizes, strides) against their
// storage, before any allocation.
//
// Whole-module checkpoints, the model.pt files the word_language_model
// example's main.py writes with torch.save(model, f), are read the same
// way, in both formats and with pickle protocols 1 to 4 (torch.save
// writes 2): nothing in them is executed or imported. The pickle may also
// name the example's classes — any class called RNNModel, whatever its
// module (model, __main__, a user's own), and
// torch.nn.modules.sparse.Embedding, torch.nn.modules.rnn.LSTM, GRU and
// RNN, torch.nn.modules.linear.Linear and torch.nn.modules.dropout.Dropout
// — and what pickling them needs: __builtin__.set, and with protocol 1
// copy_reg._reconstructor and __builtin__.object, which are accepted only
// in a pickle that names one of those classes. A class global becomes an
// inert value whose objects can only be created empty (NEWOBJ or
// _reconstructor, never REDUCE) and filled once by BUILD with their
// __dict__; the legacy format's ('module', class, file, source)
// persistent ids stand for the class, their source ignored. The tree is
// then walked as data (module.go): an RNNModel whose _modules hold encoder
// (Embedding), rnn (LSTM, GRU or RNN: unidirectional, with biases,
// batch_first False, no projection), decoder (Linear) and optionally drop
// (Dropout), none with buffers or submodules of its own, its parameters
// named as in the model's state_dict() and shaped as its attributes say.
// Load returns that state_dict, in PyTorch's order (tied weights as two
// keys on one storage), with StateDict.Module describing the model: its
// type (LSTM, GRU, RNN_TANH, RNN_RELU), nonlinearity, dropout and sizes.
// Other classes are refused by name ("refusing to load global
// model.TransformerModel"), a tree that is not the example's by what it
// holds ("rnn is torch.nn.modules.linear.Linear, want LSTM, GRU or RNN",
// "rnn (torch.nn.modules.rnn.GRU): missing attribute \"mode\"").
//
// A tensor t of shape (n_0, …, n_{d-1}) with storage offset o and strides
// (s_0, …, s_{d-1}) holds
//
//	t[i_0, …, i_{d-1}] = storage[o + Σ_k i_k·s_k],
//
// and Load returns it contiguous and row-major in Tensor.Data as float32,
// converted exactly from float16 and bfloat16 and rounded to nearest from
// float64; int64 tensors in Tensor.Int64, quantized (qint8) ones in
// Tensor.Int8 with their scales and zero points. Keys whose tensors view
// the same storage (tied weights) report the same Tensor.Storage. Entries
// that are not tensors — packed params, dtypes, (weight, bias) tuples, all
// from quantized modules — are in StateDict.Values.
//
// A tensor that views its storage contiguously, as every tensor of a
// module's state dict does, is read from the file straight into its
// elements: a float32, int64 or qint8 storage into the returned slice's
// memory, a float16, bfloat16 or float64 one converted a 256 KB chunk at a
// time (storage.go). So loading needs little more memory than the tensors
// returned; only a strided view reads its whole storage first. Zip entries
// are stored uncompressed; the CRC-32 of each storage is checked from the
// bytes as they are read, and a storage no tensor reads whole is read once
// more to check it.
//
// Save and SaveWith write the zip format with float32 storages, byte for
// byte as PyTorch 1.13's torch.save(state_dict, path) does: the archive
// folder named after the file ("temp/" for temp.p), the same entries
// (data.pkl, data/<N> in string order, version; no byteorder), the same
// pickle (CPython's memo and batching, the _metadata attribute that
// module.state_dict() sets, see SaveOptions and LSTMModelMetadata), the
// same 64-byte alignment padding, zeroed timestamps, data descriptors and
// zip64 end records (see zipWriter). So os.path.getsize of the tutorial's
// print_size_of_model equals the size of the file Save writes, for
// PyTorch 1.13: 113943637 bytes for the tutorial's LSTMModel. Later
// versions add entries: with byteorder ("little", after data.pkl) and
// .data/serialization_id (40 digits, last), as PyTorch 2.1 to 2.6 write,
// the same layout rules give 427 bytes more, 113944064: the 113.944064 MB
// the tutorial prints. With SaveOptions.Legacy they write the legacy format
// (_use_new_zipfile_serialization=False) byte for byte as 1.13 does, the
// storages named by the tensors' Storage (for a legacy file Load read, the
// addresses PyTorch named them by), so a legacy file is written back
// unchanged and SizeWith gives its size.
package pth
