package traceview

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
)

// Options are how Render writes.
type Options struct {
	// Color adds ANSI colours: for a terminal only (the caller decides:
	// stdout is a TTY and NO_COLOR is unset).
	Color bool
}

// ANSI colours of Render.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiBlue    = "\x1b[34m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

var classColor = map[string]string{
	ClassTag:      ansiBlue,
	ClassAttr:     ansiCyan,
	ClassValue:    ansiGreen,
	ClassComment:  ansiDim,
	ClassRedacted: ansiRed + ansiBold,
}

// Render writes exchanges as a person reads them: for each, a header line
// (time, kind, HTTP status), then the request and the response, each with
// its title, its summary (one line per SyncML command or SOAP fact), its
// certificates decoded, and the whole body indented.
func Render(w io.Writer, exs []Exchange, opts Options) error {
	bw := bufio.NewWriter(w)
	p := &printer{w: bw, color: opts.Color}
	for i, ex := range exs {
		if i > 0 {
			p.line("")
		}
		status := fmt.Sprintf("HTTP %d", ex.Status)
		statusColor := ansiGreen
		if ex.Status >= 400 || ex.Status == 0 {
			statusColor = ansiRed
		}
		p.line(p.paint(ansiBold, "=== "+ex.At.UTC().Format(time.RFC3339Nano)+" "+quote.Controls(ex.Kind)+" (") + p.paint(ansiBold+statusColor, status) + p.paint(ansiBold, ")"))
		p.message("-->", "device → server", ex.Request)
		p.message("<--", "server → device", ex.Response)
	}
	return bw.Flush()
}

type printer struct {
	w     *bufio.Writer
	color bool
}

func (p *printer) paint(color, s string) string {
	if !p.color || s == "" {
		return s
	}
	return color + s + ansiReset
}

func (p *printer) line(s string) {
	p.w.WriteString(s)
	p.w.WriteByte('\n')
}

func (p *printer) message(arrow, direction string, m Message) {
	p.line(p.paint(ansiBold+ansiMagenta, arrow+" "+quote.Controls(m.Title)) + p.paint(ansiDim, "  ("+direction+")"))
	for _, s := range m.Summary {
		p.line("    " + p.paint(ansiYellow, quote.Controls(s)))
	}
	for _, c := range m.Certificates {
		p.certificate(c)
	}
	if m.Format == FormatText {
		if m.Text != "" {
			// Not XML: what the device sent, on one line.
			p.line("    " + quote.Controls(m.Text))
		}
		return
	}
	p.line("")
	p.xml(m.Segments)
}

func (p *printer) certificate(c Certificate) {
	head := "    certificate, " + c.Where + ": "
	if c.Error != "" {
		p.line(head + p.paint(ansiRed, "not readable: "+quote.Controls(c.Error)))
		return
	}
	p.line(head + p.paint(ansiBold, quote.Controls(c.Subject)))
	var parts []string
	if c.Issuer != "" {
		parts = append(parts, "issuer "+c.Issuer)
	}
	if !c.NotAfter.IsZero() {
		parts = append(parts, "valid "+c.NotBefore.UTC().Format(time.RFC3339)+" to "+c.NotAfter.UTC().Format(time.RFC3339))
	}
	if c.Thumbprint != "" {
		parts = append(parts, "thumbprint (SHA-1) "+c.Thumbprint)
	}
	if c.Serial != "" {
		parts = append(parts, "serial "+c.Serial)
	}
	if c.KeyAlgorithm != "" {
		parts = append(parts, c.KeyAlgorithm)
	}
	if c.IsCA {
		parts = append(parts, "CA")
	}
	for _, s := range parts {
		p.line("      " + quote.Controls(s))
	}
}

// xml writes the indented body, four spaces in, coloured by class. Only
// the layout (punctuation segments) starts lines: what the body holds is
// written with its control characters escaped, so that a device's text
// never makes a line of its own nor drives the terminal.
func (p *printer) xml(segs []Segment) {
	atLineStart := true
	for _, s := range segs {
		text := s.Text
		if s.Class != ClassPunct {
			text = quote.Controls(text)
		}
		lines := strings.Split(text, "\n")
		for i, part := range lines {
			if i > 0 {
				p.w.WriteByte('\n')
				atLineStart = true
			}
			if part == "" {
				continue
			}
			if atLineStart {
				p.w.WriteString("    ")
				atLineStart = false
			}
			if c, ok := classColor[s.Class]; ok {
				part = p.paint(c, part)
			}
			p.w.WriteString(part)
		}
	}
	if !atLineStart {
		p.w.WriteByte('\n')
	}
}
