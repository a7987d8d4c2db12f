package lstmq_test

import (
	"context"
	"fmt"
	"log"

	"github.com/lstmq/lstmq"
)

// The fixture model of these examples is a small LSTM trained by PyTorch on
// a synthetic corpus; its words are made up.
const (
	exampleModel  = "testdata/torch/deep.pth"
	exampleCorpus = "testdata/torch/corpus"
)

func ExampleOpen() {
	m, err := lstmq.Open(exampleModel, lstmq.WithVocabulary(exampleCorpus), lstmq.WithThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Scheme(), m.Tokens(), "words")
	q, err := m.Quantize("pytorch")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(q)
	// Output:
	// fp32 291 words
	// LSTMModel(
	//   (drop): Dropout(p=0.5, inplace=False)
	//   (encoder): Embedding(291, 12)
	//   (rnn): DynamicQuantizedLSTM(12, 10, num_layers=3, dropout=0.5)
	//   (decoder): DynamicQuantizedLinear(in_features=10, out_features=291, dtype=torch.qint8, qscheme=torch.per_tensor_affine)
	// )
}

func ExampleSession_Score() {
	m, err := lstmq.Open(exampleModel, lstmq.WithVocabulary(exampleCorpus))
	if err != nil {
		log.Fatal(err)
	}
	// Both sentences are in testdata/torch/score/score.json, where PyTorch
	// gives them −62.77301 and −33.61783 ("zzqxnotaword" and "Blorptastic"
	// are not in the vocabulary: they are scored as <unk>).
	res, err := m.NewSession().Score(context.Background(), []string{
		"plol the risdiren naistulton guthdais . pain the the the",
		"the zzqxnotaword of Blorptastic .",
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Printf("logprob %.5f over %d tokens, %d unknown\n", r.LogProb, len(r.Tokens), r.OOV)
	}
	// Output:
	// logprob -62.77301 over 11 tokens, 0 unknown
	// logprob -33.61783 over 6 tokens, 2 unknown
}

func ExampleSession_Next() {
	m, err := lstmq.Open(exampleModel, lstmq.WithVocabulary(exampleCorpus))
	if err != nil {
		log.Fatal(err)
	}
	s := m.NewSession()
	// PyTorch's top 3 after this context (testdata/torch/score/score.json):
	// larsothstes 0.0047075, tronpous 0.0046174, portrerte 0.0045916.
	if err := s.Feed(context.Background(), "plol the risdiren"); err != nil {
		log.Fatal(err)
	}
	for _, c := range s.Next(3) {
		fmt.Printf("%s %.7f\n", c.Word, c.Prob)
	}
	// Output:
	// larsothstes 0.0047075
	// tronpous 0.0046174
	// portrerte 0.0045916
}

func ExampleSession_Generate() {
	m, err := lstmq.Open(exampleModel, lstmq.WithVocabulary(exampleCorpus))
	if err != nil {
		log.Fatal(err)
	}
	text, err := m.NewSession().Generate(context.Background(), lstmq.GenerateOptions{Prompt: "the", Words: 8, Temperature: 1, TopK: 40, Seed: 7})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(text)
}
