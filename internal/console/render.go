package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{"overview", "devices", "device", "confirm", "forbidden", "error", "profiles", "profile", "profile_delete"}

var funcs = template.FuncMap{
	// dict passes several values to a sub-template.
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02")
	},
	"status": func(n int) string {
		if n == 0 {
			return "-"
		}
		return strconv.Itoa(n)
	},
	"statusClass": func(n int) string {
		switch {
		case n == 0:
			return ""
		case n >= 200 && n < 300:
			return "ok"
		}
		return "bad"
	},
}

// parseTemplates parses every page with the layout, once at start.
func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %v", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what every template gets: the layout's values and the page's
// own view in Body.
type page struct {
	Title  string
	Prefix string
	User   string
	CSRF   string
	Nav    string
	Flash  string
	Body   any
}

// render writes a page whole, with headers that keep it out of caches and
// frames and let it load nothing but the console's own assets.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := h.templates[name].Execute(&buf, p); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "<!doctype html><title>console error</title><p>The page could not be drawn: %s</p>", template.HTMLEscapeString(err.Error()))
	}
	body := revealBidi(buf.Bytes())
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// revealBidi shows each bidirectional control in a page as its code point
// (quote.IsBidiControl: they make a device's name read as another, and
// HTML escaping leaves them be). The console's own templates hold none,
// so every one came from data; the CLI escapes them likewise.
func revealBidi(page []byte) []byte {
	if bytes.IndexFunc(page, quote.IsBidiControl) < 0 {
		return page
	}
	var b bytes.Buffer
	b.Grow(len(page) + 16)
	for len(page) > 0 {
		r, n := utf8.DecodeRune(page)
		if quote.IsBidiControl(r) {
			fmt.Fprintf(&b, "[U+%04X]", r)
		} else {
			b.Write(page[:n])
		}
		page = page[n:]
	}
	return b.Bytes()
}

func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
}

// serveStatic serves an embedded asset (CSS, JS); they hold nothing
// secret, so the 403 page can use them too.
func serveStatic(w http.ResponseWriter, name string) bool {
	if strings.Contains(name, "..") || strings.HasPrefix(name, ".") {
		return false
	}
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil {
		return false
	}
	ct := "text/plain; charset=utf-8"
	switch {
	case strings.HasSuffix(name, ".css"):
		ct = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return true
}

func fmtTime(t time.Time) string { return funcs["when"].(func(time.Time) string)(t) }
