package caddymdm

import (
	"io"
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
// them that nothing answers (a typo in a URL given to devices, a trailing
// slash) gets a 404 with a log line, not Caddy's empty 200, which a device
// would read as a malformed answer and an admin would never see.
var mdmPrefixes = []string{"/EnrollmentServer/*", "/ManagementServer/*"}

// UnknownPath answers a request under the MDM's paths that nothing else
// answered: 404, naming the paths that are served, and a warning in the
// log. It runs as the mdm directive's last route but hands the request on
// first: a site's own handlers ordered after mdm (respond, reverse_proxy,
// a handler directive mounted under these paths) still answer what they
// match; only a request that reaches the end of the chain unanswered gets
// the 404.
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

// ServeHTTP lets the rest of the chain answer, and answers 404 if it did
// not.
func (u *UnknownPath) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tw := &answerTracker{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	if err := next.ServeHTTP(tw, r); err != nil || tw.answered {
		return err
	}
	u.logger.Warn("request for an MDM path no service serves",
		zap.String("method", r.Method), zap.String("path", quote.Bound(r.URL.Path, maxLoggedField)),
		zap.String("remote_ip", remoteIP(r)))
	body := "404 Not Found: " + r.Method + " " + quote.Bound(r.URL.Path, maxLoggedField) +
		"\nThis server's MDM services are at " + strings.Join(servedPaths, ", ") + ".\n"
	writeBody(w, http.StatusNotFound, "text/plain; charset=utf-8", []byte(body), true)
	return nil
}

// answerTracker notes whether a handler answered: wrote a status or any
// of a body.
type answerTracker struct {
	*caddyhttp.ResponseWriterWrapper
	answered bool
}

func (t *answerTracker) WriteHeader(code int) {
	t.answered = true
	t.ResponseWriterWrapper.WriteHeader(code)
}

func (t *answerTracker) Write(b []byte) (int, error) {
	t.answered = true
	return t.ResponseWriterWrapper.Write(b)
}

func (t *answerTracker) ReadFrom(r io.Reader) (int64, error) {
	t.answered = true
	return t.ResponseWriterWrapper.ReadFrom(r)
}

var (
	_ caddy.Provisioner           = (*UnknownPath)(nil)
	_ caddyhttp.MiddlewareHandler = (*UnknownPath)(nil)
)
