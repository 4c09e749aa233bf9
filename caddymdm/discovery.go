package caddymdm

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

func init() {
	caddy.RegisterModule(Discovery{})
}

// Discovery is the MS-MDE2 discovery service
// (/EnrollmentServer/Discovery.svc): GET answers 200 with an empty body, as
// Windows probes it first; POST answers a Discover request with the
// AuthPolicy and the URLs of the policy and enrollment services.
type Discovery struct {
	appHandler
}

// CaddyModule returns the Caddy module information.
func (Discovery) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_discovery",
		New: func() caddy.Module { return new(Discovery) },
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (d *Discovery) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		d.logger.Debug("discovery probe", zap.String("user_agent", r.UserAgent()))
		return nil
	}
	d.app.serveEnrollment(w, r, d.logger, maxDiscoveryBody, soap.ActionDiscover)
	return nil
}

// discover answers a Discover request.
func (a *App) discover(x *soapExchange) {
	ep := a.endpoints(x.r)
	ep.Authentication = strings.TrimSuffix(ep.Discovery, DiscoveryPath) + LoginPath
	if x.env.To != "" && !enroll.SameEndpoint(x.env.To, ep.Discovery) {
		// Not refused: proxies rewrite hosts. Worth a look when a device fails.
		x.logger.Info("a:To differs from the discovery URL", zap.String("to", x.env.To), zap.String("served", ep.Discovery))
	}
	body, res, err := a.service.Discover(x.env, ep)
	if err != nil {
		x.fault(err)
		return
	}
	if !res.PolicyOffered {
		x.logger.Warn("the device does not list the configured AuthPolicy; it may refuse to enroll",
			zap.String("auth_policy", string(res.AuthPolicy)), zap.Strings("device_auth_policies", res.Request.AuthPolicies))
	}
	x.logger.Info("discovery",
		zap.String("email", res.Request.EmailAddress),
		zap.String("request_version", res.Request.RequestVersion),
		zap.String("enrollment_version", res.EnrollmentVersion),
		zap.String("device_type", res.Request.DeviceType),
		zap.String("application_version", res.Request.ApplicationVersion),
		zap.String("auth_policy", string(res.AuthPolicy)),
		zap.String("enrollment_url", ep.Enrollment))
	x.respond(body)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_discovery [<matcher>]
//
// The handler takes no options: what it announces comes from the mdm global
// option (auth policy, base_url, policy_url, enrollment_url).
func (d *Discovery) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	return noOptions(disp)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Discovery)(nil)
	_ caddyhttp.MiddlewareHandler = (*Discovery)(nil)
	_ caddyfile.Unmarshaler       = (*Discovery)(nil)
)
