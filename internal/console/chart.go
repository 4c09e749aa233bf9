package console

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value int
	// Class is a CSS class of the bar (its colour), e.g. "enrolled".
	Class string
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	hbarRow    = 26
	hbarLabelW = 120
	hbarWidth  = 520
	vbarHeight = 160
	vbarWidth  = 720
)

// HBarChart draws one horizontal bar per entry, its label on the left and
// its value at its end; bars are scaled to the largest value. Drawn on the
// server, so the page needs no script to show it.
func HBarChart(title string, bars []Bar) template.HTML {
	maxV := maxValue(bars)
	height := hbarRow*len(bars) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart hbar" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		hbarWidth, height, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	span := float64(hbarWidth - hbarLabelW - 60)
	for i, bar := range bars {
		y := 4 + i*hbarRow
		w := 0.0
		if maxV > 0 {
			w = span * float64(bar.Value) / float64(maxV)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="label">%s</text>`, hbarLabelW-8, y+16, html.EscapeString(bar.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" class="bar %s"><title>%s: %d</title></rect>`,
			hbarLabelW, y+2, w, hbarRow-8, cssClass(bar.Class), html.EscapeString(bar.Label), bar.Value)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="value">%d</text>`, float64(hbarLabelW)+w+6, y+16, bar.Value)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// VBarChart draws a column per entry (e.g. one per day) with a label
// under every labelEvery-th column and the largest value on the axis.
func VBarChart(title string, bars []Bar, labelEvery int) template.HTML {
	maxV := maxValue(bars)
	const top, bottom, left = 16, 22, 34
	plotH := float64(vbarHeight - top - bottom)
	colW := 0.0
	if len(bars) > 0 {
		colW = float64(vbarWidth-left-4) / float64(len(bars))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart vbar" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		vbarWidth, vbarHeight, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" class="axis"/>`, left, top, left, float64(top)+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="axis"/>`, left, float64(top)+plotH, vbarWidth-4, float64(top)+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="value axis-max">%d</text>`, left-4, top+4, maxV)
	for i, bar := range bars {
		h := 0.0
		if maxV > 0 {
			h = plotH * float64(bar.Value) / float64(maxV)
		}
		x := float64(left) + float64(i)*colW
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar %s"><title>%s: %d</title></rect>`,
			x+0.5, float64(top)+plotH-h, max(colW-1, 0.5), h, cssClass(bar.Class), html.EscapeString(bar.Label), bar.Value)
		if labelEvery > 0 && i%labelEvery == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="tick">%s</text>`, x, vbarHeight-6, html.EscapeString(bar.Label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func maxValue(bars []Bar) int {
	m := 0
	for _, b := range bars {
		m = max(m, b.Value)
	}
	return m
}

// cssClass keeps a class to letters, digits and '-', so no value can leave
// the attribute.
func cssClass(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, s)
}
