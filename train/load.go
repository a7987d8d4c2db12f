package train

import (
	"fmt"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
)

// LoadParams reads a state_dict file into parameters to train further. If
// the file stores decoder.weight in encoder.weight's storage (a tied model,
// as torch.save writes one and checkpoint.SavePth too), the decoder weight
// is made the encoder weight again, so that training keeps them tied.
func LoadParams(path string) (*model.Params, error) {
	sd, err := pth.Load(path)
	if err != nil {
		return nil, err
	}
	p, err := checkpoint.ParamsFromStateDict(sd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	enc, dec := sd.Tensors["encoder.weight"], sd.Tensors["decoder.weight"]
	if enc.Storage != "" && enc.Storage == dec.Storage {
		if p.NInp != p.NHid {
			return nil, fmt.Errorf("%s: decoder.weight shares encoder.weight's storage but emsize %d != nhid %d", path, p.NInp, p.NHid)
		}
		p.DecoderW = p.Encoder
	}
	return p, nil
}
