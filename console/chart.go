package console

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/service"
)

// chart is a bar chart of tokens issued per hour, drawn as inline SVG on
// the server: no script, no image request, and it scales with the page
// (viewBox) down to a phone's width. Colours come from the stylesheet
// through classes, since the CSP forbids inline styles.
type chart struct {
	Width, Height int
	Bars          []chartBar
	Ticks         []chartTick
	Grid          []chartGrid
	// PlotLeft, PlotRight and Baseline frame the plot area.
	PlotLeft, PlotRight, Baseline string
	Total                         int64
	Peak                          int64
	Summary                       string
}

type chartBar struct {
	X, Y, W, H string
	Label      string // the hour, for the bar's <title> and the table
	Count      int64
}

type chartTick struct {
	X, Label string
}

type chartGrid struct {
	Y, Label string
}

const (
	chartWidth  = 600
	chartHeight = 180
	plotLeft    = 44.0
	plotRight   = 592.0
	plotTop     = 12.0
	plotBottom  = 150.0
)

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceCeil rounds n up to 1, 2 or 5 times a power of ten, so the axis
// reads 0–50 rather than 0–43.
func niceCeil(n int64) int64 {
	if n <= 1 {
		return 1
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

func buildChart(hours []service.HourCount) chart {
	ch := chart{Width: chartWidth, Height: chartHeight, PlotLeft: num(plotLeft), PlotRight: num(plotRight), Baseline: num(plotBottom)}
	for _, h := range hours {
		ch.Total += h.Count
		ch.Peak = max(ch.Peak, h.Count)
	}
	top := niceCeil(ch.Peak)
	marks := []int64{0, top}
	if top >= 2 {
		marks = []int64{0, top / 2, top}
	}
	for _, v := range marks {
		y := plotBottom - float64(v)/float64(top)*(plotBottom-plotTop)
		ch.Grid = append(ch.Grid, chartGrid{Y: num(y), Label: strconv.FormatInt(v, 10)})
	}
	if len(hours) == 0 {
		ch.Summary = "No data."
		return ch
	}
	slot := (plotRight - plotLeft) / float64(len(hours))
	for i, h := range hours {
		x := plotLeft + float64(i)*slot
		height := float64(h.Count) / float64(top) * (plotBottom - plotTop)
		if h.Count > 0 && height < 1 {
			height = 1 // one token must still show
		}
		label := h.Hour.UTC().Format("15:04") + "–" + h.Hour.UTC().Add(59*time.Minute).Format("15:04")
		ch.Bars = append(ch.Bars, chartBar{
			X: num(x + 2), Y: num(plotBottom - height), W: num(slot - 4), H: num(height),
			Label: label, Count: h.Count,
		})
		if h.Hour.UTC().Hour()%6 == 0 {
			ch.Ticks = append(ch.Ticks, chartTick{X: num(x + slot/2), Label: h.Hour.UTC().Format("15:04")})
		}
	}
	from, to := hours[0].Hour.UTC().Format("Jan 2 15:04"), hours[len(hours)-1].Hour.UTC().Add(59*time.Minute).Format("Jan 2 15:04")
	switch ch.Total {
	case 0:
		ch.Summary = fmt.Sprintf("No tokens issued from %s to %s UTC.", from, to)
	case 1:
		ch.Summary = fmt.Sprintf("1 token issued from %s to %s UTC.", from, to)
	default:
		ch.Summary = fmt.Sprintf("%d tokens issued from %s to %s UTC, at most %d in one hour.", ch.Total, from, to, ch.Peak)
	}
	return ch
}
