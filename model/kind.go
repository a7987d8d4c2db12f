package model

import (
	"fmt"
	"strings"
)

// Kind is the recurrent cell of a model, named as the example's --model
// flag names it: LSTM, GRU, RNN_TANH or RNN_RELU.
type Kind uint8

const (
	LSTM    Kind = iota // nn.LSTM: gates i, f, g, o (4h rows), state (h, c)
	GRU                 // nn.GRU: gates r, z, n (3h rows), state h
	RNNTanh             // nn.RNN(nonlinearity='tanh'): h rows, state h
	RNNReLU             // nn.RNN(nonlinearity='relu')
)

var kindNames = [...]string{LSTM: "LSTM", GRU: "GRU", RNNTanh: "RNN_TANH", RNNReLU: "RNN_RELU"}

// String returns the example's name of the kind: "LSTM", "GRU", "RNN_TANH", "RNN_RELU".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// ParseKind reads a kind as the example's --model flag takes it (case
// does not matter).
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if strings.EqualFold(s, name) {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown model type %q (want LSTM, GRU, RNN_TANH or RNN_RELU)", s)
}

// Gates returns the number of gate blocks of the cell: the rows of W_ih
// and W_hh are Gates()·nhid (4 for LSTM, 3 for GRU, 1 for RNN).
func (k Kind) Gates() int {
	switch k {
	case LSTM:
		return 4
	case GRU:
		return 3
	}
	return 1
}

// Module returns the name of PyTorch's module class: LSTM, GRU or RNN.
func (k Kind) Module() string {
	switch k {
	case LSTM, GRU:
		return k.String()
	}
	return "RNN"
}

// Nonlinearity returns "tanh" or "relu" for the RNN kinds, "" otherwise.
func (k Kind) Nonlinearity() string {
	switch k {
	case RNNTanh:
		return "tanh"
	case RNNReLU:
		return "relu"
	}
	return ""
}

// HasCell reports whether the state holds a cell c besides h (LSTM only).
func (k Kind) HasCell() bool { return k == LSTM }

// KindOf finds the kind from the rows of W_hh (rows = Gates()·nhid) and, for
// a plain RNN, which a state_dict cannot tell apart, from nonlinearity
// ("tanh", "relu" or "" for tanh, the example's default).
func KindOf(rows, nhid int, nonlinearity string) (Kind, error) {
	switch {
	case nhid <= 0:
		return 0, fmt.Errorf("hidden size %d", nhid)
	case rows == 4*nhid:
		return LSTM, nil
	case rows == 3*nhid:
		return GRU, nil
	case rows == nhid:
		switch nonlinearity {
		case "", "tanh":
			return RNNTanh, nil
		case "relu":
			return RNNReLU, nil
		}
		return 0, fmt.Errorf("unknown nonlinearity %q (want tanh or relu)", nonlinearity)
	}
	return 0, fmt.Errorf("%d rows for hidden size %d: not 4·nhid (LSTM), 3·nhid (GRU) or nhid (RNN)", rows, nhid)
}
