package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lstmq/lstmq/model"
	"github.com/lstmq/lstmq/train"
)

// runTrain runs the train command (built directly: the root command list
// is the lead's) and returns its error, stdout and stderr.
func runTrain(t *testing.T, args ...string) (error, string) {
	t.Helper()
	c := newTrainCmd()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	c.SilenceUsage = true
	err := c.Execute()
	return err, out.String()
}

func TestTrainCommand(t *testing.T) {
	save := filepath.Join(t.TempDir(), "m.pth")
	err, out := runTrain(t, "--data", corpusDir, "--save", save, "--emsize", "8", "--nhid", "8", "--nlayers", "1",
		"--epochs", "2", "--batch-size", "10", "--log-interval", "5", "--tied", "--threads", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, s := range []string{"| epoch   1 |     5/", "| end of epoch   2 | time: ", "| End of training | test loss "} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if _, err := os.Stat(save); err != nil {
		t.Fatal(err)
	}
	// Resume from it for one more epoch.
	save2 := filepath.Join(t.TempDir(), "m2.pth")
	err, out = runTrain(t, "--data", corpusDir, "--save", save2, "--resume", save, "--epochs", "1", "--batch-size", "10",
		"--lr", "5", "--threads", "1")
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if _, err := os.Stat(save2); err != nil {
		t.Fatal(err)
	}
}

func TestTrainCommandErrors(t *testing.T) {
	dir := t.TempDir()
	save := filepath.Join(dir, "m.pth")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", corpusDir}, "--save is required"},
		{[]string{"--save", save}, "--data is required"},
		{[]string{"--data", corpusDir, "--save", save, "--tied", "--emsize", "10", "--nhid", "12"}, "nhid must be equal to emsize"},
		{[]string{"--data", corpusDir, "--save", save, "--dropout", "1"}, "--dropout"},
		{[]string{"--data", corpusDir, "--save", save, "--resume", deepPth, "--nhid", "10"}, "cannot be given with --resume"},
		{[]string{"--data", filepath.Join(dir, "nope"), "--save", save}, "train.txt"},
		{[]string{"--data", corpusDir, "--save", save, "--resume", filepath.Join(dir, "nope.pth")}, "nope.pth"},
		{[]string{"--data", corpusDir, "--save", filepath.Join(dir, "no", "m.pth")}, "does not exist"},
		{[]string{"--data", corpusDir, "--save", save, "--model", "gru"}, "did you mean GRU"},
		{[]string{"--data", corpusDir, "--save", save, "--model", "Transformer"}, "Transformer is not supported"},
		{[]string{"--data", corpusDir, "--save", save, "--model", "RNN"}, "want LSTM, GRU, RNN_TANH or RNN_RELU"},
		{[]string{"--data", corpusDir, "--save", save, "--model", "GRU", "--resume", deepPth}, "holds a model of type LSTM"},
	} {
		err, _ := runTrain(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	// main.py's message for --tied with emsize != nhid, for every type.
	for _, k := range []string{"LSTM", "GRU", "RNN_TANH", "RNN_RELU"} {
		err, _ := runTrain(t, "--data", corpusDir, "--save", save, "--model", k, "--tied", "--emsize", "10", "--nhid", "12")
		if err == nil || err.Error() != "When using the tied flag, nhid must be equal to emsize" {
			t.Errorf("--model %s --tied, emsize 10, nhid 12: error %v", k, err)
		}
	}
	if _, err := os.Stat(save); err == nil {
		t.Error("a failed run wrote the model file")
	}
}

// TestTrainCommandKinds trains each type for an epoch and reads the saved
// state_dict back as that type; a relu RNN resumes with --model RNN_RELU.
func TestTrainCommandKinds(t *testing.T) {
	for _, k := range []model.Kind{model.GRU, model.RNNTanh, model.RNNReLU} {
		t.Run(k.String(), func(t *testing.T) {
			save := filepath.Join(t.TempDir(), "m.pth")
			err, out := runTrain(t, "--data", corpusDir, "--save", save, "--model", k.String(), "--emsize", "8", "--nhid", "8",
				"--nlayers", "2", "--epochs", "1", "--batch-size", "10", "--lr", "5", "--tied", "--threads", "1")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			p, err := train.LoadParams(save, k.Nonlinearity())
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != k || p.NHid != 8 || len(p.Layers) != 2 || &p.DecoderW[0] != &p.Encoder[0] {
				t.Errorf("saved: %v, nhid %d, %d layers, tied %v", p.Kind, p.NHid, len(p.Layers), &p.DecoderW[0] == &p.Encoder[0])
			}
			save2 := filepath.Join(t.TempDir(), "m2.pth")
			err, out = runTrain(t, "--data", corpusDir, "--save", save2, "--resume", save, "--model", k.String(), "--epochs", "1",
				"--batch-size", "10", "--lr", "1", "--threads", "1")
			if err != nil {
				t.Fatalf("resume: %v\n%s", err, out)
			}
		})
	}
}
