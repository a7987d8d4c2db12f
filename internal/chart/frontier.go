package chart

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lstmq/lstmq/internal/atomicfile"
)

// Point is one file on the size/accuracy frontier.
type Point struct {
	Label     string  // the scheme's name
	SizeMB    float64 // file size
	LossDelta float64 // loss − the float32 model's loss
	// Mark draws the point apart, labelled (the float32 model, PyTorch's
	// int8): other points are small dots, labelled too.
	Mark bool
}

// WriteFrontier draws points as size (x, MB) against Δloss (y) to path, a
// .png or .svg file, atomically. Marked points are drawn as larger red
// rings; every point carries its label.
func WriteFrontier(path, title string, points []Point) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".png" && ext != ".svg" {
		return fmt.Errorf("chart %s: want a .png or .svg file name", path)
	}
	if len(points) == 0 {
		return fmt.Errorf("chart %s: nothing to draw", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "file size (MB)"
	p.Y.Label.Text = "loss − fp32 loss"
	p.Add(plotter.NewGrid())
	var plain, marked plotter.XYs
	var labels plotter.XYLabels
	for _, pt := range points {
		xy := plotter.XY{X: pt.SizeMB, Y: pt.LossDelta}
		if pt.Mark {
			marked = append(marked, xy)
		} else {
			plain = append(plain, xy)
		}
		labels.XYs = append(labels.XYs, xy)
		labels.Labels = append(labels.Labels, pt.Label)
	}
	for _, set := range []struct {
		xys   plotter.XYs
		shape draw.GlyphDrawer
		r     vg.Length
		c     color.Color
	}{
		{plain, draw.CircleGlyph{}, 2.5, color.RGBA{0, 0, 160, 255}},
		{marked, draw.RingGlyph{}, 5, color.RGBA{200, 0, 0, 255}},
	} {
		if len(set.xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(set.xys)
		if err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
		s.GlyphStyle = draw.GlyphStyle{Shape: set.shape, Radius: set.r, Color: set.c}
		p.Add(s)
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].Font.Size = vg.Points(7)
		l.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
	}
	p.Add(l)
	// Room around the points for the glyphs and the labels to their right.
	padX, padY := (p.X.Max-p.X.Min)*0.04, (p.Y.Max-p.Y.Min)*0.08
	p.X.Min, p.X.Max = p.X.Min-padX, p.X.Max+3*padX
	p.Y.Min, p.Y.Max = p.Y.Min-padY, p.Y.Max+padY
	const w, h = 8 * vg.Inch, 5 * vg.Inch
	var canvas vg.CanvasWriterTo
	if ext == ".png" {
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	} else {
		canvas = vgsvg.New(w, h)
	}
	p.Draw(draw.New(canvas))
	return atomicfile.WriteFile(path, 0o644, func(out io.Writer) error {
		_, err := canvas.WriteTo(out)
		return err
	})
}
