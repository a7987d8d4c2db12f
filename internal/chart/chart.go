package chart

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lstmq/lstmq/internal/atomicfile"
)

// Bar is one variant's numbers.
type Bar struct {
	Label   string // e.g. "fp32", "int8"
	SizeMB  float64
	Loss    float64
	Seconds float64
}

// Panels are the three quantities drawn, in order.
var Panels = []string{"Size (MB)", "Loss", "Time (s)"}

// Write draws bars to path, a .png or .svg file, atomically.
func Write(path string, title string, bars []Bar) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".png" && ext != ".svg" {
		return fmt.Errorf("chart %s: want a .png or .svg file name", path)
	}
	if len(bars) == 0 {
		return fmt.Errorf("chart %s: nothing to draw", path)
	}
	plots := make([][]*plot.Plot, 1)
	for i, name := range Panels {
		p, err := panel(name, bars, func(b Bar) float64 { return [...]float64{b.SizeMB, b.Loss, b.Seconds}[i] })
		if err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
		plots[0] = append(plots[0], p)
	}
	const w, h = 9 * vg.Inch, 3.5 * vg.Inch
	var canvas vg.CanvasWriterTo
	if ext == ".png" {
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	} else {
		canvas = vgsvg.New(w, h)
	}
	dc := draw.New(canvas)
	top := dc
	if title != "" {
		top.Max.Y -= 0.3 * vg.Inch
		style := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 12), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter}
		dc.FillText(style, vg.Point{X: w / 2, Y: h - 0.2*vg.Inch}, title)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(Panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	cs := plot.Align(plots, tiles, top)
	for j := range plots[0] {
		plots[0][j].Draw(cs[0][j])
	}
	return atomicfile.WriteFile(path, 0o644, func(out io.Writer) error {
		_, err := canvas.WriteTo(out)
		return err
	})
}

func panel(name string, bars []Bar, value func(Bar) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = name
	vals := make(plotter.Values, len(bars))
	names := make([]string, len(bars))
	for i, b := range bars {
		vals[i] = value(b)
		names[i] = fmt.Sprintf("%s\n%.4g", b.Label, vals[i])
	}
	bc, err := plotter.NewBarChart(vals, vg.Points(36))
	if err != nil {
		return nil, err
	}
	bc.Color = plotter.DefaultLineStyle.Color
	p.Add(bc)
	p.NominalX(names...)
	p.Y.Min = 0 // bars start at zero
	mx := 0.0
	for _, v := range vals {
		mx = max(mx, v)
	}
	p.Y.Max = mx * 1.15
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
	return p, nil
}
