package lstmq

import "github.com/lstmq/lstmq/model"

// Net exposes the model's network to the tests.
func Net(m *Model) *model.Model { return m.net }
