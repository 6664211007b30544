package main

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var palette = []color.Color{
	color.RGBA{0x4e, 0x79, 0xa7, 0xff}, color.RGBA{0xf2, 0x8e, 0x2b, 0xff},
	color.RGBA{0x59, 0xa1, 0x4f, 0xff}, color.RGBA{0xb0, 0x7a, 0xa1, 0xff},
	color.RGBA{0x9c, 0x75, 0x5f, 0xff}, color.RGBA{0xe1, 0x57, 0x59, 0xff},
	color.RGBA{0x76, 0xb7, 0xb2, 0xff}, color.RGBA{0xed, 0xc9, 0x48, 0xff},
	color.RGBA{0xff, 0x9d, 0xa7, 0xff}, color.RGBA{0xba, 0xb0, 0xac, 0xff},
	color.RGBA{0x1f, 0x3a, 0x5f, 0xff}, color.RGBA{0x8c, 0x2d, 0x19, 0xff},
}

// series is one case's ratio per algorithm (NaN: not measured).
type series struct {
	name   string
	ratios []float64
}

// writeChart draws grouped bars: one group per algorithm, one bar per case,
// with the crypto floor (1.0) as a line.
func writeChart(path, title, ylabel string, algs []string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	top := 1.0
	for _, s := range ss {
		for _, r := range s.ratios {
			if r == r && r > top {
				top = r
			}
		}
	}
	p.Y.Max = top * 1.45 // room for the legend above the bars
	w := vg.Points(14)
	n := len(ss)
	for i, s := range ss {
		vals := make(plotter.Values, len(algs))
		for j := range algs {
			v := s.ratios[j]
			if v != v { // NaN: leave the slot empty
				v = 0
			}
			vals[j] = v
		}
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bc.Color = palette[i%len(palette)]
		bc.LineStyle.Width = 0
		bc.Offset = vg.Length(float64(i)-float64(n-1)/2) * w
		p.Add(bc)
		p.Legend.Add(s.name, bc)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(len(algs)) - 0.5, Y: 1}})
	if err != nil {
		return err
	}
	one.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	p.Legend.Add("crypto_floor = 1", one)
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(algs...)
	p.Add(plotter.NewGrid())
	return p.Save(11*vg.Inch, 6*vg.Inch, path)
}
