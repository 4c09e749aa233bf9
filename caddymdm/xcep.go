package caddymdm

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

func init() {
	caddy.RegisterModule(XCEP{})
}

// XCEP is the MS-XCEP certificate enrollment policy service
// (/EnrollmentServer/Policy.svc): it authenticates the user like the
// enrollment service and answers GetPolicies with the key and hash policy.
type XCEP struct {
	appHandler
}

// CaddyModule returns the Caddy module information.
func (XCEP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_xcep",
		New: func() caddy.Module { return new(XCEP) },
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *XCEP) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.app.serveEnrollment(w, r, h.logger, maxPolicyBody, soap.ActionGetPolicies)
	return nil
}

// getPolicies answers a GetPolicies request.
func (a *App) getPolicies(x *soapExchange) {
	creds := enroll.CredentialsFrom(x.env, x.peerCertificates())
	creds.RemoteAddr = remoteIP(x.r)
	body, user, err := a.service.GetPolicies(x.r.Context(), x.env, creds)
	if err != nil {
		logRefusalDetail(x, err)
		x.fault(err)
		return
	}
	x.logger.Info("policy served", zap.String("user", user), zap.Int("min_key_length", a.service.MinKeyLength))
	x.respond(body)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_xcep [<matcher>]
//
// The policy (min_key_length, certificate_validity, renewal_period) and the
// authentication come from the mdm global option.
func (h *XCEP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noOptions(d)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*XCEP)(nil)
	_ caddyhttp.MiddlewareHandler = (*XCEP)(nil)
	_ caddyfile.Unmarshaler       = (*XCEP)(nil)
)
