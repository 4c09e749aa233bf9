package caddymdm

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/console"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

func init() {
	caddy.RegisterModule(Console{})
}

// Console serves the admin web console (internal/console): fleet overview,
// devices, one device with its trace and actions, profiles. It serves
// only requests an authentication handler in front of it (basic_auth,
// forward_auth, client certificates) has authenticated, reading the
// admin's name from placeholders; anything else gets a 403 page that says
// how to configure one. Mount it on a site of its own (an admin host or a
// localhost port), not on the enrollment host.
type Console struct {
	// Placeholders that name the authenticated admin, tried in order; the
	// first that is not empty is the user every change is logged with.
	// Name only placeholders an authentication handler sets: a header
	// placeholder only if forward_auth copies that header (copy_headers
	// deletes a client's own), and {http.request.tls.client.*} only count
	// when the client certificate was verified. Default:
	// ["{http.auth.user.id}"] (basic_auth and other caddyauth providers).
	UserPlaceholders []string `json:"user_placeholders,omitempty"`
	// Devices per page of the device list. Default: 50.
	PageSize int `json:"page_size,omitempty"`

	appHandler
	console *console.Handler
}

// CaddyModule returns the Caddy module information.
func (Console) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_console",
		New: func() caddy.Module { return new(Console) },
	}
}

// consoleSecretName is the store secret keying the console's CSRF tokens,
// shared by every node so a form drawn by one is accepted by another.
const consoleSecretName = "console-csrf"

// Provision finds the mdm app and loads the CSRF secret.
func (c *Console) Provision(ctx caddy.Context) error {
	if err := c.appHandler.Provision(ctx); err != nil {
		return err
	}
	if len(c.UserPlaceholders) == 0 {
		c.UserPlaceholders = []string{"{http.auth.user.id}"}
	}
	secret, err := c.app.store.Secret(ctx, consoleSecretName)
	if err != nil {
		return fmt.Errorf("mdm_console: %v", err)
	}
	h, err := console.New(&consoleBackend{app: c.app, summary: &store.CountCache{MaxAge: overviewMaxAge}}, secret)
	if err != nil {
		return err
	}
	if c.PageSize > 0 {
		h.PageSize = c.PageSize
	}
	h.Refused = func(r *http.Request, user string, status int, reason string) {
		c.logger.Warn("console request refused", zap.String("remote_ip", remoteIP(r)), zap.String("method", r.Method),
			zap.String("uri", r.RequestURI), zap.String("user", user), zap.Int("status", status), zap.String("reason", reason))
	}
	c.console = h
	return nil
}

// Validate checks the placeholders.
func (c *Console) Validate() error {
	for _, p := range c.UserPlaceholders {
		if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || strings.Count(p, "{") != 1 {
			return fmt.Errorf("mdm_console user %q: give one placeholder, e.g. {http.auth.user.id}", p)
		}
	}
	if c.PageSize < 0 || c.PageSize > 1000 {
		return fmt.Errorf("mdm_console page_size %d: want 1 to 1000", c.PageSize)
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The console answers
// every request it gets; it never passes one on.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	user := c.user(r, repl)
	prefix := ""
	if repl != nil {
		// Under handle_path the path was stripped: links keep the prefix.
		orig, _ := repl.GetString("http.request.orig_uri.path")
		if p, ok := strings.CutSuffix(orig, r.URL.Path); ok && r.URL.Path != "" {
			prefix = strings.TrimRight(p, "/")
		}
	}
	c.console.Serve(w, r, r.URL.Path, prefix, user)
	return nil
}

// maxUserName bounds the admin's name as logged and shown.
const maxUserName = 256

// user is the authenticated admin: the first configured placeholder with
// a value. Client certificate placeholders count only for a certificate
// the TLS handshake verified (Caddy fills them for any presented one).
func (c *Console) user(r *http.Request, repl *caddy.Replacer) string {
	if repl == nil {
		return ""
	}
	for _, p := range c.UserPlaceholders {
		name := strings.Trim(p, "{}")
		if strings.HasPrefix(name, "http.request.tls.client.") && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			continue
		}
		v, ok := repl.Get(name)
		if !ok || v == nil {
			continue
		}
		s := strings.TrimSpace(fmt.Sprint(v))
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, s)
		if len(s) > maxUserName {
			s = s[:maxUserName]
		}
		if s != "" {
			return s
		}
	}
	return ""
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Console)(nil)
	_ caddy.Validator             = (*Console)(nil)
	_ caddyhttp.MiddlewareHandler = (*Console)(nil)
)
