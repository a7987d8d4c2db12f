package chart

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var bars = []Bar{{"fp32", 113.9, 5.167, 203.3}, {"int8", 79.7, 5.168, 109.7}}

func TestPNG(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.png")
	if err := Write(f, "tutorial", bars); err != nil {
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
	if r := img.Bounds(); r.Dx() < 600 || r.Dy() < 200 {
		t.Errorf("image %v too small", r)
	}
}

// TestSVG checks the three panels by their titles and that each panel's
// value axis starts at 0.
func TestSVG(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.svg")
	if err := Write(f, "", bars); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(strings.TrimSpace(s), "<?xml") || !strings.Contains(s, "<svg") {
		t.Fatalf("not an SVG: %.80q", s)
	}
	for _, p := range Panels {
		if strings.Count(s, ">"+p+"<") != 1 {
			t.Errorf("panel %q: want its title once", p)
		}
	}
	if n := len(regexp.MustCompile(`>0(\.0+)?<`).FindAllString(s, -1)); n != 3 {
		t.Errorf("%d axes labelled 0, want one per panel", n)
	}
	for _, v := range []string{"113.9", "79.7", "5.167", "5.168", "203.3", "109.7"} {
		if !strings.Contains(s, v) {
			t.Errorf("value %s not drawn", v)
		}
	}
}

func TestBadName(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "c.jpg"), "", bars); err == nil {
		t.Error("want an error for .jpg")
	}
}
