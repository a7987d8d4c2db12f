package bench

import "testing"

// TestGenRate parses the line lstmq generate prints on standard error.
func TestGenRate(t *testing.T) {
	m := genRate.FindStringSubmatch("| Generated 900/1000 words\ngenerated 1000 words in 1.63 s (613.0 words/s, fp32)\n")
	if m == nil || m[1] != "613.0" {
		t.Fatalf("got %q", m)
	}
}

func TestMedian(t *testing.T) {
	r := &Result{Runs: []Run{
		{Impl: "lstmq", Which: "fp32", Seconds: 3, Loss: 5, RSSMB: 10},
		{Impl: "lstmq", Which: "fp32", Seconds: 1, Loss: 5, RSSMB: 12},
		{Impl: "lstmq", Which: "fp32", Seconds: 2, Loss: 5, RSSMB: 11},
		{Impl: "ort", Which: "fp32", Seconds: 4},
		{Impl: "ort", Which: "fp32", Seconds: 6},
	}}
	if s, l, rss, ok := r.Median("lstmq", "fp32"); !ok || s != 2 || l != 5 || rss != 12 {
		t.Errorf("lstmq: %v %v %v %v", s, l, rss, ok)
	}
	if s, _, _, ok := r.Median("ort", "fp32"); !ok || s != 5 {
		t.Errorf("ort: %v", s)
	}
	if _, _, _, ok := r.Median("pytorch", "int8"); ok {
		t.Error("no runs, ok")
	}
}
