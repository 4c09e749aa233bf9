package fedlogin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

var (
	pages = template.Must(template.ParseFS(files, "templates/*.html"))
	css   = template.CSS(mustRead("templates/style.css"))
	// autoPost submits the token form as soon as the page loads; the
	// Continue button does it without script.
	autoPost = template.JS("document.forms[0].submit();")
	// csp allows only the page's own inline style and script (by hash):
	// no external asset, no other script, no framing.
	csp = "default-src 'none'; style-src " + hashSource(string(css)) + "; script-src " + hashSource(string(autoPost)) +
		"; img-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func hashSource(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// loginPage is the data of the sign-in form.
type loginPage struct {
	Site, Error, User, CSRF string
	// Action is the form's target, the page's own path.
	Action string
	// AppRU is checked by checkAppRU before it gets here.
	AppRU string
	// Passwords is set when local users may sign in.
	Passwords bool
	// OIDC is the link that starts the OpenID Connect sign-in, or "".
	OIDC, OIDCName string
	CSS            template.CSS
}

// postPage is the page that returns the token to Windows.
type postPage struct {
	Site, User, Token string
	// AppRU is a template.URL: html/template would otherwise replace the
	// ms-app scheme, unknown to it, with #ZgotmplZ. It is made only from an
	// appru checkAppRU accepted.
	AppRU  template.URL
	CSS    template.CSS
	Script template.JS
}

// errorPage explains a refusal.
type errorPage struct {
	Site, Error, Retry string
	CSS                template.CSS
}

// render writes a page with the headers every page carries: no caching
// (the token page holds a bearer token), no framing, no referrer (the
// query holds the user name), the content security policy.
func render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
