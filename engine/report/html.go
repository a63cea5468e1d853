package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// SVG geometry of a chart.
const (
	svgW, svgH                           = 760.0, 260.0
	svgLeft, svgRight, svgTop, svgBottom = 56.0, 12.0, 16.0, 40.0
)

// svgChart is a chart laid out for the template.
type svgChart struct {
	Title  string
	Grid   []svgTick
	XLabel []svgText
	Lines  []svgLine
	Bars   []svgBar
	Legend []svgLegend
	W, H   float64
}

type svgTick struct {
	Y     float64
	Label string
}

type svgText struct {
	X    float64
	Text string
}

type svgLine struct {
	Color  string
	Points string // "x,y x,y ..." (one polyline per unbroken run)
}

type svgBar struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type svgLegend struct {
	X     float64
	Color string
	Name  string
}

// layout places a chart's marks on the SVG canvas.
func layout(c Chart) svgChart {
	out := svgChart{Title: c.Title, W: svgW, H: svgH}
	plotW, plotH := svgW-svgLeft-svgRight, svgH-svgTop-svgBottom
	lo, hi := c.YMin, c.axisMax()
	y := func(v float64) float64 {
		v = math.Max(lo, math.Min(hi, v))
		return svgTop + plotH*(1-(v-lo)/(hi-lo))
	}
	n := len(c.Labels)
	for _, t := range c.ticks() {
		out.Grid = append(out.Grid, svgTick{Y: y(t), Label: tickLabel(t, c.Unit)})
	}
	slot := plotW / math.Max(1, float64(n))
	step := labelStep(n, 12)
	for i, l := range c.Labels {
		if i%step == 0 {
			out.XLabel = append(out.XLabel, svgText{X: svgLeft + slot*(float64(i)+0.5), Text: l})
		}
	}
	for si, s := range c.Series {
		col := hexColor(color(si))
		out.Legend = append(out.Legend, svgLegend{X: svgLeft + float64(si)*math.Min(150, plotW/float64(len(c.Series))), Color: col, Name: s.Name})
		if c.Kind == "bar" {
			bw := slot * 0.8 / float64(len(c.Series))
			for i, v := range s.Values {
				if math.IsNaN(v) || i >= n {
					continue
				}
				x := svgLeft + slot*float64(i) + slot*0.1 + bw*float64(si)
				out.Bars = append(out.Bars, svgBar{X: x, Y: y(v), W: bw, H: y(lo) - y(v), Color: col,
					Title: fmt.Sprintf("%s %s: %s", s.Name, c.Labels[i], tickLabel(v, c.Unit))})
			}
			continue
		}
		var run []string
		flush := func() {
			if len(run) > 0 {
				out.Lines = append(out.Lines, svgLine{Color: col, Points: strings.Join(run, " ")})
			}
			run = nil
		}
		for i, v := range s.Values {
			if math.IsNaN(v) || i >= n {
				flush()
				continue
			}
			run = append(run, fmt.Sprintf("%.1f,%.1f", svgLeft+slot*(float64(i)+0.5), y(v)))
		}
		flush()
	}
	return out
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"layout": layout,
	"rows":   rowsWord,
	"stamp":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"cellClass": func(c Cell) string {
		if c.IsNum {
			return "num"
		}
		return ""
	},
	"plus":  func(a, b float64) float64 { return a + b },
	"minus": func(a, b float64) float64 { return a - b },
	"left":  func() float64 { return svgLeft },
	"right": func() float64 { return svgW - svgRight },
	"base":  func() float64 { return svgH - svgBottom },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}{{if .Org}} - {{.Org}}{{end}}</title>
<style>
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13px; color: #222; margin: 24px; }
h1 { font-size: 22px; margin: 0; } h2 { font-size: 16px; margin: 24px 0 6px 0; }
.sub { color: #555; margin: 4px 0 16px 0; }
.facts { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.fact { border: 1px solid #ccd; border-radius: 4px; padding: 8px 12px; min-width: 140px; }
.fact .v { font-size: 18px; font-weight: 600; } .fact .l { color: #555; font-size: 12px; }
.note { background: #fff8e1; border-left: 4px solid #f9a825; padding: 6px 10px; margin: 6px 0; }
table { border-collapse: collapse; margin: 4px 0 12px 0; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font-family: inherit; font-size: 11px; fill: #444; }
footer { color: #888; font-size: 11px; margin-top: 24px; }
</style></head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{if .Org}}{{.Org}} | {{end}}{{.Subtitle}} | generated {{stamp .Generated}}</p>
{{if .Facts}}<div class="facts">{{range .Facts}}<div class="fact"><div class="v">{{.Value}}</div><div class="l">{{.Label}}</div></div>{{end}}</div>{{end}}
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
{{range .Charts}}{{with $c := layout .}}
<h2>{{.Title}}</h2>
<svg role="img" aria-label="{{.Title}}" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" xmlns="http://www.w3.org/2000/svg">
{{range .Grid}}<line x1="{{left}}" y1="{{.Y}}" x2="{{right}}" y2="{{.Y}}" stroke="#e3e3e3"/><text x="{{minus left 6}}" y="{{plus .Y 4}}" text-anchor="end">{{.Label}}</text>
{{end}}<line x1="{{left}}" y1="{{base}}" x2="{{right}}" y2="{{base}}" stroke="#888"/>
{{range .XLabel}}<text x="{{.X}}" y="{{plus base 14}}" text-anchor="middle">{{.Text}}</text>
{{end}}{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Lines}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" points="{{.Points}}"/>
{{end}}{{range .Legend}}<rect x="{{.X}}" y="{{minus $c.H 12}}" width="10" height="10" fill="{{.Color}}"/><text x="{{plus .X 14}}" y="{{minus $c.H 3}}">{{.Name}}</text>
{{end}}</svg>{{end}}{{end}}
{{range .Tables}}
<h2>{{.Title}}</h2>{{if .Note}}<p class="sub">{{.Note}}</p>{{end}}
{{if .Detail}}<p class="sub">{{rows (len .Rows)}}: in the CSV and XLSX versions of this report.</p>{{else if not .Rows}}<p class="sub">None.</p>{{else}}
<table><thead><tr>{{range .Columns}}<th>{{.Title}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td class="{{cellClass .}}">{{.Text}}</td>{{end}}</tr>
{{end}}</tbody></table>{{end}}{{end}}
<footer>rmm report. Times are UTC unless the scope says otherwise.</footer>
</body></html>
`))

// HTML writes the document as one self-contained page: inline CSS, charts
// as inline SVG, no script and nothing fetched. Every value is escaped by
// html/template.
func HTML(w io.Writer, d Document) error {
	return htmlPage.Execute(w, d)
}
