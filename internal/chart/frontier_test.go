package chart

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var frontier = []Point{
	{"fp32", 113.9, 0, true}, {"pytorch", 30.2, 5.6e-5, true},
	{"fp16", 57.3, 1e-6, false}, {"channel-emb8", 16.1, -2e-4, false},
}

func TestFrontierPNG(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f.png")
	if err := WriteFrontier(f, "frontier", frontier); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a valid PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 300 {
		t.Errorf("image %v too small", r)
	}
}

// TestFrontierSVG checks the axis titles and that every point is labelled.
func TestFrontierSVG(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f.svg")
	if err := WriteFrontier(f, "", frontier); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"file size (MB)", "loss − fp32 loss", "fp32", "pytorch", "fp16", "channel-emb8"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if err := WriteFrontier(filepath.Join(t.TempDir(), "f.gif"), "", frontier); err == nil {
		t.Error(".gif: no error")
	}
	if err := WriteFrontier(filepath.Join(t.TempDir(), "f.png"), "", nil); err == nil {
		t.Error("no points: no error")
	}
}
