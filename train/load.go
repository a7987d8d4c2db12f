package train

import (
	"fmt"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
)

// LoadParams reads a state_dict file into parameters to train further. A
// tied model stays tied (checkpoint.ParamsFromStateDict ties it again), so
// training keeps the weights tied. nonlinearity is as for
// checkpoint.ParamsFromStateDict.
func LoadParams(path, nonlinearity string) (*model.Params, error) {
	sd, err := pth.Load(path)
	if err != nil {
		return nil, err
	}
	p, err := checkpoint.ParamsFromStateDict(sd, nonlinearity)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
