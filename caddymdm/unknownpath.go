package caddymdm

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
)

func init() {
	caddy.RegisterModule(UnknownPath{})
}

// mdmPrefixes are the path trees the mdm directive owns: a request under
// them that no service matched (a typo in a URL given to devices, a
// trailing slash) is answered 404 with a log line, not Caddy's empty 200,
// which a device would read as a malformed answer and an admin would
// never see.
var mdmPrefixes = []string{"/EnrollmentServer/*", "/ManagementServer/*"}

// UnknownPath answers a request under the MDM's paths that no service
// serves: 404, naming the paths that are served, and a warning in the log.
type UnknownPath struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (UnknownPath) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_unknown_path",
		New: func() caddy.Module { return new(UnknownPath) },
	}
}

// Provision takes the logger.
func (u *UnknownPath) Provision(ctx caddy.Context) error {
	u.logger = ctx.Logger()
	return nil
}

// servedPaths lists what the mdm directive serves, for the 404's body.
var servedPaths = []string{DiscoveryPath, PolicyPath, EnrollmentPath, ManagementPath, TermsOfUsePath, LoginPath}

// ServeHTTP answers 404.
func (u *UnknownPath) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	u.logger.Warn("request for an MDM path no service serves",
		zap.String("method", r.Method), zap.String("path", quote.Bound(r.URL.Path, maxLoggedField)),
		zap.String("remote_ip", remoteIP(r)))
	body := "404 Not Found: " + r.Method + " " + quote.Bound(r.URL.Path, maxLoggedField) +
		"\nThis server's MDM services are at " + strings.Join(servedPaths, ", ") + ".\n"
	writeBody(w, http.StatusNotFound, "text/plain; charset=utf-8", []byte(body), true)
	return nil
}

var (
	_ caddy.Provisioner           = (*UnknownPath)(nil)
	_ caddyhttp.MiddlewareHandler = (*UnknownPath)(nil)
)
