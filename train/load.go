package train

import (
	"fmt"

	"github.com/lstmq/lstmq/checkpoint"
	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/pth"
)

// LoadParams reads a state_dict file into parameters to train further. A
// tied model stays tied (checkpoint.ParamsFromStateDict ties it again), so
// training keeps the weights tied.
func LoadParams(path string) (*model.Params, error) {
	sd, err := pth.Load(path)
	if err != nil {
		return nil, err
	}
	p, err := checkpoint.ParamsFromStateDict(sd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
