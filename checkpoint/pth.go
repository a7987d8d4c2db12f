package checkpoint

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/lstmq/lstmq/internal/errkind"

	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
)

// DefaultDropout is the dropout printed for a model whose file does not
// record it: the tutorial's 0.5.
const DefaultDropout = 0.5

// ErrQuantized is returned by ParamsFromStateDict (and LoadPth) for the
// state dict of a model quantized by quantize_dynamic, which quant.LoadPth
// reads.
var ErrQuantized = errors.New("the state dict is of a quantized model (quantize_dynamic): no float32 parameters")

// ErrShape marks a tensor whose shape does not fit the model's; ErrKey an
// unknown or missing state_dict key. Both are found with errors.Is; the
// messages name the key.
var (
	ErrShape = errors.New("tensor shape")
	ErrKey   = errors.New("state_dict key")
)

// LoadPth reads a PyTorch checkpoint (a state_dict, or the example's
// torch.save(model)) into a float32 model; nonlinearity is as for
// ParamsFromStateDict.
func LoadPth(path, nonlinearity string) (*model.Model, *model.Params, error) {
	sd, err := pth.Load(path)
	if err != nil {
		return nil, nil, err
	}
	p, err := ParamsFromStateDict(sd, nonlinearity)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return model.New(*p, Dropout(sd)), p, nil
}

// Dropout returns the dropout a whole-module checkpoint records, else
// DefaultDropout (a state_dict does not record it).
func Dropout(sd *pth.StateDict) float64 {
	if sd.Module != nil {
		return sd.Module.Dropout
	}
	return DefaultDropout
}

var layerKey = regexp.MustCompile(`^rnn\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)$`)

// ParamsFromStateDict checks a state_dict against the key table and returns
// the parameters. Every key must be known and every shape must fit. The
// recurrent kind is read from the shapes: W_hh has 4·nhid rows for an
// LSTM, 3·nhid for a GRU, nhid for an RNN, whose nonlinearity a state_dict
// does not record: nonlinearity gives it ("tanh", the example's default,
// when ""). A whole-module checkpoint records its kind; a nonlinearity
// that contradicts it is an error.
func ParamsFromStateDict(sd *pth.StateDict, nonlinearity string) (*model.Params, error) {
	if sd.Quantized() {
		return nil, ErrQuantized
	}
	nlayers := 0
	for _, k := range sd.Keys {
		switch k {
		case "encoder.weight", "decoder.weight", "decoder.bias":
			continue
		}
		m := layerKey.FindStringSubmatch(k)
		if m == nil {
			return nil, errkind.Errorf(ErrKey, "unexpected key %q (not a word_language_model state_dict key)", k)
		}
		l, err := strconv.Atoi(m[2])
		if err != nil || l > 10000 {
			return nil, errkind.Errorf(ErrKey, "unexpected key %q: layer index out of range", k)
		}
		nlayers = max(nlayers, l+1)
	}
	get := func(key string, rank int) (*pth.Tensor, error) {
		t, ok := sd.Tensors[key]
		if !ok {
			return nil, errkind.Errorf(ErrKey, "missing key %q", key)
		}
		if len(t.Shape) != rank {
			return nil, errkind.Errorf(ErrShape, "key %q: shape %v, want %d dimensions", key, t.Shape, rank)
		}
		if t.Data == nil && t.NumElements() > 0 {
			return nil, fmt.Errorf("key %q: %s tensor, want floating point", key, t.DType)
		}
		return t, nil
	}
	enc, err := get("encoder.weight", 2)
	if err != nil {
		return nil, err
	}
	if nlayers == 0 {
		return nil, errkind.Errorf(ErrKey, "missing key %q", "rnn.weight_ih_l0")
	}
	whh0, err := get("rnn.weight_hh_l0", 2)
	if err != nil {
		return nil, err
	}
	p := &model.Params{NToken: enc.Shape[0], NInp: enc.Shape[1], NHid: whh0.Shape[1], Encoder: enc.Data}
	if p.NToken < 1 || p.NInp < 1 || p.NHid < 1 {
		return nil, errkind.Errorf(ErrShape, "key %q: empty shape %v", "encoder.weight", enc.Shape)
	}
	kind, err := model.KindOf(whh0.Shape[0], p.NHid, nonlinearity)
	if err != nil {
		return nil, errkind.Errorf(ErrShape, "key %q: shape %v: %v", "rnn.weight_hh_l0", whh0.Shape, err)
	}
	if m := sd.Module; m != nil {
		recorded, err := model.ParseKind(m.RNNType)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m.Class, err)
		}
		if recorded.Gates() != kind.Gates() {
			return nil, errkind.Errorf(ErrShape, "key %q: shape %v does not fit the module's %s", "rnn.weight_hh_l0", whh0.Shape, recorded)
		}
		if nonlinearity != "" && recorded.Module() == "RNN" && nonlinearity != recorded.Nonlinearity() {
			return nil, fmt.Errorf("nonlinearity %q, but the file's module is %s", nonlinearity, recorded)
		}
		kind = recorded
	}
	p.Kind = kind
	want := func(key string, t *pth.Tensor, shape ...int) error {
		if !slices.Equal(t.Shape, shape) {
			return errkind.Errorf(ErrShape, "key %q: shape %v, want %v for a %s (from ntoken %d, ninp %d of encoder.weight %v and nhid %d of rnn.weight_hh_l0 %v)",
				key, t.Shape, shape, kind, p.NToken, p.NInp, enc.Shape, p.NHid, whh0.Shape)
		}
		return nil
	}
	p.Layers = make([]model.LayerParams, nlayers)
	for _, e := range p.Tensors() {
		t, err := get(e.Key, len(e.Shape))
		if err != nil {
			return nil, err
		}
		if err := want(e.Key, t, e.Shape...); err != nil {
			return nil, err
		}
		*e.Data = t.Data
	}
	// A decoder weight stored in the encoder weight's storage, with the
	// same shape and values, is the same Parameter in PyTorch (the
	// example's --tied): tie them again, so that it is counted, saved and
	// trained once.
	enc, dec := sd.Tensors["encoder.weight"], sd.Tensors["decoder.weight"]
	if enc.Storage != "" && enc.Storage == dec.Storage && p.NInp == p.NHid && slices.Equal(enc.Data, dec.Data) {
		p.DecoderW = p.Encoder
	}
	return p, nil
}
