package caddymdm

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/fedlogin"
)

func init() {
	caddy.RegisterModule(Login{})
}

// LoginPath is the default path of the federated login page, the
// AuthenticationServiceUrl discovery announces when auth federated
// configures no other.
const LoginPath = fedlogin.DefaultPath

// Login is the login page of federated enrollment
// (/EnrollmentServer/Login): Windows opens it in a web view with
// ?appru=ms-app://...&login_hint=<UPN>; after a password or OpenID Connect
// sign-in it posts the enrollment token (wresult) to appru. Its users,
// provider and tokens come from `auth federated` in the mdm global option.
// With another policy, or federated with only an external page, it
// answers 404.
type Login struct {
	appHandler
	page *fedlogin.Server
}

// CaddyModule returns the Caddy module information.
func (Login) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_login",
		New: func() caddy.Module { return new(Login) },
	}
}

// Provision builds the page from the federated policy of the mdm app.
func (h *Login) Provision(ctx caddy.Context) error {
	if err := h.appHandler.Provision(ctx); err != nil {
		return err
	}
	setup := h.app.Auth.fed.page
	if h.app.Auth.Policy != authFederated || setup == nil {
		return nil
	}
	site := h.app.DisplayName
	if site == "" {
		site = h.app.ProviderID
	}
	page, err := setup.server(site, h.report)
	if err != nil {
		return err
	}
	h.page = page
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Login) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.page == nil {
		return caddyhttp.Error(http.StatusNotFound, errors.New("no federated login page: auth federated configures no users or oidc"))
	}
	h.page.ServeHTTP(w, r)
	return nil
}

// report logs a sign-in or a refusal: who, how, from where, never a
// password or a token.
func (h *Login) report(r *http.Request, ev fedlogin.Event) {
	f := []zap.Field{zap.String("method", ev.Method), zap.String("user", ev.User), zap.String("remote_ip", remoteIP(r))}
	switch {
	case ev.OK:
		h.logger.Info("federated sign-in: token handed out", f...)
	case ev.RateLimited:
		h.logger.Warn("authentication rate-limited", append(f, zap.Error(ev.Err))...)
	default:
		if ev.Err != nil {
			f = append(f, zap.Error(ev.Err))
		}
		h.logger.Info("federated sign-in refused: "+ev.Reason, f...)
	}
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_login [<matcher>]
//
// The handler takes no options: users, OpenID Connect provider and token
// lifetime come from `auth federated` in the mdm global option. Mount it on
// /EnrollmentServer/Login and /EnrollmentServer/Login/* (the `mdm`
// directive does when auth is federated); elsewhere, set
// authentication_service_url so that discovery announces it.
func (h *Login) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noOptions(d)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Login)(nil)
	_ caddyhttp.MiddlewareHandler = (*Login)(nil)
	_ caddyfile.Unmarshaler       = (*Login)(nil)
)
