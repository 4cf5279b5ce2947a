package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// svgElement is what the test needs of each element.
type svgElement struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG checks that b is well-formed XML with an svg root and returns
// its elements in document order.
func parseSVG(t *testing.T, b []byte) []svgElement {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var els []svgElement
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element is %v, want svg in the SVG namespace", tok.Name)
			}
			depth++
			e := svgElement{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
		case xml.EndElement:
			depth--
		case xml.CharData:
			if len(els) > 0 {
				els[len(els)-1].text += string(tok)
			}
		}
	}
	if depth != 0 || len(els) == 0 {
		t.Fatal("the SVG is empty or unbalanced")
	}
	return els
}

func TestWritePlot(t *testing.T) {
	var series []Point
	for i := 1; i <= 10; i++ {
		series = append(series, Point{At: time.Duration(i) * time.Second, RPS: float64(1000 + 100*i), P99: time.Duration(i) * time.Millisecond})
	}
	var buf bytes.Buffer
	// A title with markup characters must come out escaped, not break the file.
	title := `bench tokens: http://127.0.0.1:8080/?a=1&b=<2> "quoted"`
	if err := WritePlot(&buf, title, series); err != nil {
		t.Fatal(err)
	}
	els := parseSVG(t, buf.Bytes())
	polylines := map[string][]string{}
	var texts []string
	for _, e := range els {
		switch e.name {
		case "polyline":
			polylines[e.attrs["id"]] = strings.Fields(e.attrs["points"])
		case "text":
			texts = append(texts, e.text)
		}
	}
	if len(polylines) != 2 {
		t.Fatalf("want two series, got %d polylines: %v", len(polylines), polylines)
	}
	for _, id := range []string{"throughput", "p99"} {
		if len(polylines[id]) != len(series) {
			t.Errorf("series %q has %d points, want %d", id, len(polylines[id]), len(series))
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{title, "time (s)", "throughput (requests/s)", "p99 latency (ms)"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart has no text %q; texts:\n%s", want, all)
		}
	}
	// Throughput rises over time, so its line must climb (smaller y).
	first, last := polylines["throughput"][0], polylines["throughput"][len(series)-1]
	if !(yOf(t, last) < yOf(t, first)) {
		t.Errorf("throughput line does not climb: first %s, last %s", first, last)
	}
}

func yOf(t *testing.T, pt string) float64 {
	t.Helper()
	_, y, ok := strings.Cut(pt, ",")
	if !ok {
		t.Fatalf("point %q is not x,y", pt)
	}
	var v float64
	if _, err := fmt.Sscan(y, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A run too short for one interval still makes a valid chart with axes.
func TestWritePlotEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePlot(&buf, "empty", nil); err != nil {
		t.Fatal(err)
	}
	parseSVG(t, buf.Bytes())
	if strings.Contains(buf.String(), "NaN") || strings.Contains(buf.String(), "Inf") {
		t.Errorf("empty chart holds NaN or Inf:\n%s", buf.String())
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		top  float64
		want []float64
	}{
		{0, []float64{0, 1}},
		{9.5, []float64{0, 2, 4, 6, 8, 10}},
		{10, []float64{0, 2, 4, 6, 8, 10}},
		{1234, []float64{0, 500, 1000, 1500}},
		{0.7, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8}},
	} {
		got := niceTicks(tc.top)
		if len(got) != len(tc.want) {
			t.Errorf("niceTicks(%v) = %v, want %v", tc.top, got, tc.want)
			continue
		}
		for i := range got {
			if relErrF(got[i], tc.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v) = %v, want %v", tc.top, got, tc.want)
				break
			}
		}
	}
	if s := fmtTick(0.6000000000000001); s != "0.6" {
		t.Errorf("fmtTick shows float noise: %q", s)
	}
}

func relErrF(a, b float64) float64 {
	if b == 0 {
		return a
	}
	d := (a - b) / b
	if d < 0 {
		d = -d
	}
	return d
}
