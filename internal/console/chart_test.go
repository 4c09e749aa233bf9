package console

import (
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
)

// svgRects parses a chart as XML (it must be well-formed) and returns its
// bars' widths or heights and its texts.
func svgRects(t *testing.T, svg string, attr string) (sizes []float64, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	inText := false
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return
			}
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			inText = e.Name.Local == "text"
			if e.Name.Local == "rect" {
				for _, a := range e.Attr {
					if a.Name.Local == attr {
						f, err := strconv.ParseFloat(a.Value, 64)
						if err != nil {
							t.Fatal(err)
						}
						sizes = append(sizes, f)
					}
				}
			}
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
}

func TestHBarChartScalesToLargest(t *testing.T) {
	svg := string(HBarChart("by state", []Bar{{"enrolled", 40, "enrolled"}, {"retired", 10, "retired"}, {"unenrolled", 0, "unenrolled"}}))
	widths, texts := svgRects(t, svg, "width")
	if len(widths) != 3 || widths[0] <= 0 || widths[1]*4 != widths[0] || widths[2] != 0 {
		t.Fatalf("widths %v", widths)
	}
	for _, want := range []string{"enrolled", "40", "retired", "10", "0"} {
		if !strings.Contains(strings.Join(texts, "|"), want) {
			t.Errorf("no text %q in %v", want, texts)
		}
	}
}

func TestVBarChartDaysAndTicks(t *testing.T) {
	bars := make([]Bar, 90)
	for i := range bars {
		bars[i] = Bar{Label: "d" + strconv.Itoa(i), Value: i % 3}
	}
	svg := string(VBarChart("per day", bars, 15))
	heights, texts := svgRects(t, svg, "height")
	if len(heights) != 90 {
		t.Fatalf("%d columns, want 90", len(heights))
	}
	if heights[0] != 0 || heights[2] <= 0 || heights[1]*2 != heights[2] {
		t.Errorf("heights not proportional: %v", heights[:3])
	}
	ticks := 0
	for _, s := range texts {
		if strings.HasPrefix(s, "d") {
			ticks++
		}
	}
	if ticks != 6 { // d0, d15, ..., d75
		t.Errorf("%d tick labels, want 6: %v", ticks, texts)
	}
}

func TestChartEscapesLabelsAndClasses(t *testing.T) {
	svg := string(HBarChart(`x"><script>`, []Bar{{`<img src=x onerror=alert(1)>`, 1, `a" onload="x`}}))
	if strings.Contains(svg, "<script>") || strings.Contains(svg, "<img") || strings.Contains(svg, `onload="`) {
		t.Fatalf("unescaped input in chart:\n%s", svg)
	}
	svgRects(t, svg, "width") // still well-formed
}

func TestEmptyChart(t *testing.T) {
	widths, _ := svgRects(t, string(HBarChart("none", []Bar{{"a", 0, ""}})), "width")
	if len(widths) != 1 || widths[0] != 0 {
		t.Fatalf("zero chart: %v", widths)
	}
	svgRects(t, string(VBarChart("none", nil, 10)), "height")
}
