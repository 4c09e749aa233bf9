package caddymdm

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/tou"
)

func init() {
	caddy.RegisterModule(TermsOfUse{})
}

// TermsOfUsePath is where the mdm directive serves the terms of use: the
// "MDM terms of use URL" of the Entra ID application is
// https://<host>/EnrollmentServer/TermsOfUse.
const TermsOfUsePath = "/EnrollmentServer/TermsOfUse"

// TermsOfUse is the terms-of-use page of Entra ID enrollment
// (internal/tou): Windows opens it with the user's Entra access token
// before enrolling; Accept sends the user back with the OpaqueBlob that the
// enrollment request must then carry. It answers 404 unless `auth entra`
// has a terms_of_use block.
type TermsOfUse struct {
	appHandler
	page *tou.Page
}

// CaddyModule returns the Caddy module information.
func (TermsOfUse) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_terms_of_use",
		New: func() caddy.Module { return new(TermsOfUse) },
	}
}

// Provision builds the page over the Entra policy's verifier and terms.
func (t *TermsOfUse) Provision(ctx caddy.Context) error {
	if err := t.appHandler.Provision(ctx); err != nil {
		return err
	}
	c := t.app.Auth
	if c == nil || c.Entra == nil || c.Entra.built == nil || c.Entra.built.acceptances == nil {
		return nil
	}
	b := c.Entra.built
	title := t.app.DisplayName
	if title == "" {
		title = t.app.ProviderID
	}
	logger := t.logger
	t.page = &tou.Page{
		Verifier: b.verifier, Acceptances: b.acceptances, Title: title, Terms: b.termsHTML,
		Log: func(ev tou.Event) {
			fields := []zap.Field{zap.String("outcome", ev.Outcome), zap.String("user", ev.User),
				zap.String("tenant", ev.TenantID), zap.String("client_request_id", ev.ClientRequestID)}
			if ev.Reason != "" {
				logger.Warn("terms of use", append(fields, zap.String("reason", ev.Reason))...)
				return
			}
			logger.Info("terms of use", fields...)
		},
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (t *TermsOfUse) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if t.page == nil {
		return caddyhttp.Error(http.StatusNotFound, errors.New("no terms of use configured (auth entra { terms_of_use { ... } })"))
	}
	t.page.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_terms_of_use [<matcher>]
//
// The handler takes no options: the terms, the tenants and the keys come
// from `auth entra { ... terms_of_use { ... } }` in the mdm global option.
// The mdm directive mounts it on /EnrollmentServer/TermsOfUse.
func (t *TermsOfUse) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noOptions(d)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*TermsOfUse)(nil)
	_ caddyhttp.MiddlewareHandler = (*TermsOfUse)(nil)
	_ caddyfile.Unmarshaler       = (*TermsOfUse)(nil)
)
