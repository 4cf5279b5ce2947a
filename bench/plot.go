package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// The plot is built as a tree of elements and written with encoding/xml,
// which escapes every attribute and text, so the file is well-formed XML
// whatever the title says.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr
	Text     string
	Children []*node
}

// MarshalXML writes the element with its attributes, text and children;
// it keeps attributes in the order given, which makes the file readable.
func (n *node) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: n.XMLName, Attr: n.Attrs}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if n.Text != "" {
		if err := e.EncodeToken(xml.CharData(n.Text)); err != nil {
			return err
		}
	}
	for _, c := range n.Children {
		if err := e.Encode(c); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// el makes an element from name, attribute pairs and children.
func el(name string, attrs []string, children ...*node) *node {
	n := &node{XMLName: xml.Name{Local: name}, Children: children}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return n
}

func text(x, y float64, anchor, s string, extra ...string) *node {
	n := el("text", append([]string{"x", f1(x), "y", f1(y), "text-anchor", anchor}, extra...))
	n.Text = s
	return n
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Plot geometry, in SVG user units (pixels).
const (
	plotW, plotH                      = 900.0, 440.0
	marginL, marginR, marginT, margin = 80.0, 80.0, 60.0, 60.0
	throughputColour, p99Colour       = "#1f77b4", "#d62728"
)

// WritePlot writes an SVG chart of the run's throughput (left axis) and
// p99 latency (right axis) per interval over time.
func WritePlot(w io.Writer, title string, series []Point) error {
	innerW, innerH := plotW-marginL-marginR, plotH-marginT-margin
	var maxT, maxRPS float64
	var maxP99 time.Duration
	for _, p := range series {
		maxT = max(maxT, p.At.Seconds())
		maxRPS = max(maxRPS, p.RPS)
		maxP99 = max(maxP99, p.P99)
	}
	// The value axes end on a round tick above the highest value; the time
	// axis ends where the run did, so a 10.01s run is not drawn to 12s.
	rTicks := niceTicks(maxRPS)
	lTicks := niceTicks(float64(maxP99) / float64(time.Millisecond))
	rMax, lMax := rTicks[len(rTicks)-1], lTicks[len(lTicks)-1]
	tMax := maxT
	var tTicks []float64
	for _, t := range niceTicks(maxT) {
		if t <= maxT*(1+1e-9) {
			tTicks = append(tTicks, t)
		}
	}
	if maxT == 0 {
		tMax, tTicks = 1, []float64{0, 1}
	}

	x := func(t float64) float64 { return marginL + t/tMax*innerW }
	yR := func(v float64) float64 { return marginT + innerH - v/rMax*innerH }
	yL := func(v float64) float64 { return marginT + innerH - v/lMax*innerH }

	svg := el("svg", []string{
		"xmlns", "http://www.w3.org/2000/svg",
		"width", f1(plotW), "height", f1(plotH),
		"viewBox", fmt.Sprintf("0 0 %s %s", f1(plotW), f1(plotH)),
		"font-family", "sans-serif", "font-size", "12",
	})
	add := func(n ...*node) { svg.Children = append(svg.Children, n...) }
	add(el("rect", []string{"width", "100%", "height", "100%", "fill", "white"}))
	add(text(plotW/2, 24, "middle", title, "font-size", "16", "font-weight", "bold"))

	// Grid and ticks: the throughput axis sets the horizontal grid lines.
	grid := el("g", []string{"id", "grid", "stroke", "#e0e0e0", "stroke-width", "1"})
	for _, v := range rTicks {
		grid.Children = append(grid.Children, el("line", []string{"x1", f1(marginL), "x2", f1(marginL + innerW), "y1", f1(yR(v)), "y2", f1(yR(v))}))
	}
	for _, t := range tTicks {
		grid.Children = append(grid.Children, el("line", []string{"x1", f1(x(t)), "x2", f1(x(t)), "y1", f1(marginT), "y2", f1(marginT + innerH)}))
	}
	add(grid)

	axes := el("g", []string{"id", "axes", "stroke", "#333", "stroke-width", "1"},
		el("line", []string{"x1", f1(marginL), "x2", f1(marginL + innerW), "y1", f1(marginT + innerH), "y2", f1(marginT + innerH)}),
		el("line", []string{"x1", f1(marginL), "x2", f1(marginL), "y1", f1(marginT), "y2", f1(marginT + innerH)}),
		el("line", []string{"x1", f1(marginL + innerW), "x2", f1(marginL + innerW), "y1", f1(marginT), "y2", f1(marginT + innerH)}),
	)
	add(axes)

	labels := el("g", []string{"id", "tick-labels"})
	for _, t := range tTicks {
		labels.Children = append(labels.Children, text(x(t), marginT+innerH+18, "middle", fmtTick(t)))
	}
	for _, v := range rTicks {
		labels.Children = append(labels.Children, text(marginL-8, yR(v)+4, "end", fmtTick(v), "fill", throughputColour))
	}
	for _, v := range lTicks {
		labels.Children = append(labels.Children, text(marginL+innerW+8, yL(v)+4, "start", fmtTick(v), "fill", p99Colour))
	}
	add(labels)

	// Axis titles; the vertical ones are rotated about their anchor.
	add(text(marginL+innerW/2, plotH-14, "middle", "time (s)"))
	add(text(20, marginT+innerH/2, "middle", "throughput (requests/s)",
		"fill", throughputColour, "transform", fmt.Sprintf("rotate(-90 20 %s)", f1(marginT+innerH/2))))
	add(text(plotW-20, marginT+innerH/2, "middle", "p99 latency (ms)",
		"fill", p99Colour, "transform", fmt.Sprintf("rotate(90 %s %s)", f1(plotW-20), f1(marginT+innerH/2))))

	var rPts, lPts []string
	for _, p := range series {
		rPts = append(rPts, f1(x(p.At.Seconds()))+","+f1(yR(p.RPS)))
		lPts = append(lPts, f1(x(p.At.Seconds()))+","+f1(yL(float64(p.P99)/float64(time.Millisecond))))
	}
	add(el("polyline", []string{"id", "throughput", "class", "series", "fill", "none", "stroke", throughputColour,
		"stroke-width", "2", "points", strings.Join(rPts, " ")}))
	add(el("polyline", []string{"id", "p99", "class", "series", "fill", "none", "stroke", p99Colour,
		"stroke-width", "2", "stroke-dasharray", "6 3", "points", strings.Join(lPts, " ")}))

	legendY := marginT - 14
	add(el("g", []string{"id", "legend"},
		el("line", []string{"x1", f1(marginL), "x2", f1(marginL + 24), "y1", f1(legendY), "y2", f1(legendY), "stroke", throughputColour, "stroke-width", "2"}),
		text(marginL+30, legendY+4, "start", "throughput (requests/s, left)"),
		el("line", []string{"x1", f1(marginL + 240), "x2", f1(marginL + 264), "y1", f1(legendY), "y2", f1(legendY), "stroke", p99Colour, "stroke-width", "2", "stroke-dasharray", "6 3"}),
		text(marginL+270, legendY+4, "start", "p99 latency (ms, right)"),
	))

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", " ")
	if err := enc.Encode(svg); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// niceTicks returns tick values from 0 up to at least top, in steps of 1,
// 2 or 5 times a power of ten, three to seven of them. An empty or zero range
// gets 0 and 1, so that a chart of nothing still has axes.
func niceTicks(top float64) []float64 {
	if !(top > 0) || math.IsInf(top, 0) {
		return []float64{0, 1}
	}
	raw := top / 6
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow * 10
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	var ticks []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		ticks = append(ticks, v)
		if v >= top*(1-1e-9) {
			return ticks
		}
	}
}

// fmtTick shows a tick value without float noise (0.30000000000000004).
func fmtTick(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}
