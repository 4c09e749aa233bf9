package caddymdm

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/tlsresume"
)

func init() {
	caddy.RegisterModule(SessionResumption{})
}

// ticketSecretName is the stored secret the nodes derive ticket keys from,
// so that a device resumes on any node.
const ticketSecretName = "tls-session-tickets"

// resumptionVerifierJSON is how mdm_device_ca adds SessionResumption to
// its connection policy.
var resumptionVerifierJSON = json.RawMessage(`{"verifier":"mdm_session_resumption"}`)

// SessionResumption lets devices resume TLS sessions on a connection
// policy that trusts the device CA, with tickets bound to that CA and to
// the server name (internal/tlsresume).
//
// Caddy turns session tickets off wherever client authentication is on, as
// a ticket issued under one policy could otherwise be resumed under another
// and skip its certificate check. Without tickets every device poll pays a
// full handshake. mdm_device_ca adds this module to its own policy; it is a
// certificate verifier only because Caddy loads verifiers right after it
// has built the policy's TLS configuration and before anything serves with
// it, the one moment that configuration can safely be adjusted. As a
// verifier it adds no check of its own: crypto/tls verifies the chain (on
// resumption too, against the current device CA) and mdm_omadm binds the
// certificate to its device on every request.
type SessionResumption struct{}

// CaddyModule returns the Caddy module information.
func (SessionResumption) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.client_auth.verifier.mdm_session_resumption",
		New: func() caddy.Module { return new(SessionResumption) },
	}
}

// Provision enables tickets on the policies that were just built with this
// verifier.
func (SessionResumption) Provision(ctx caddy.Context) error {
	httpApp := httpAppProvisioning(ctx)
	if httpApp == nil {
		return nil
	}
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	secret, err := app.store.Secret(ctx, ticketSecretName)
	if err != nil {
		return fmt.Errorf("mdm_session_resumption: %v", err)
	}
	realm := sha256.Sum256(app.ca.Root.Raw)
	tickets, err := tlsresume.New(realm[:], secret, nil)
	if err != nil {
		return fmt.Errorf("mdm_session_resumption: %v", err)
	}
	devicePool := app.DeviceCAPool()
	for name, srv := range httpApp.Servers {
		for i, pol := range srv.TLSConnPolicies {
			if !resumptionPending(pol, devicePool) {
				continue
			}
			tickets.Enable(pol.TLSConfig)
			ctx.Logger().Info("devices resume TLS sessions: tickets bound to the device CA and server name",
				zap.String("server", name), zap.Int("tls_connection_policy", i))
		}
	}
	return nil
}

// resumptionPending reports whether pol has been built, trusts the device
// CA, asked for this verifier (its verifiers are being loaded now) and does
// not resume yet.
func resumptionPending(pol *caddytls.ConnectionPolicy, devicePool *x509.CertPool) bool {
	if pol == nil || pol.TLSConfig == nil || pol.ClientAuthentication == nil || tlsresume.Enabled(pol.TLSConfig) {
		return false
	}
	if pol.TLSConfig.ClientCAs == nil || !pol.TLSConfig.ClientCAs.Equal(devicePool) {
		return false
	}
	return hasResumptionVerifier(pol.ClientAuthentication)
}

// UnmarshalCaddyfile sets up the module from Caddyfile tokens; it takes no
// options, and mdm_device_ca adds it by itself. Syntax:
//
//	verifier mdm_session_resumption
func (*SessionResumption) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("mdm_session_resumption takes no options")
	}
	return nil
}

// VerifyClientCertificate adds no check (see SessionResumption).
func (SessionResumption) VerifyClientCertificate([][]byte, [][]*x509.Certificate) error { return nil }

// offerResumption adds SessionResumption to the connection policies of the
// HTTP app that trust mdm_device_ca and are not built yet: the policy
// provisioning this pool among them. Called while the pool provisions.
func offerResumption(ctx caddy.Context) {
	httpApp := httpAppProvisioning(ctx)
	if httpApp == nil {
		return
	}
	for _, srv := range httpApp.Servers {
		for _, pol := range srv.TLSConnPolicies {
			if pol == nil || pol.TLSConfig != nil || pol.ClientAuthentication == nil {
				continue
			}
			ca := pol.ClientAuthentication
			if !trustsDeviceCAPool(ca.CARaw) || hasResumptionVerifier(ca) {
				continue
			}
			ca.VerifiersRaw = append(ca.VerifiersRaw, resumptionVerifierJSON)
		}
	}
}

// httpAppProvisioning is the HTTP app among the modules ctx descends
// from (nil when a module is provisioned outside one, e.g. in a test).
func httpAppProvisioning(ctx caddy.Context) *caddyhttp.App {
	for _, m := range ctx.Modules() {
		if a, ok := m.(*caddyhttp.App); ok {
			return a
		}
	}
	return nil
}

// trustsDeviceCAPool reports whether a client_auth trust_pool is
// mdm_device_ca with session resumption left on.
func trustsDeviceCAPool(raw json.RawMessage) bool {
	var pool struct {
		Provider            string `json:"provider"`
		NoSessionResumption bool   `json:"no_session_resumption"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &pool) != nil {
		return false
	}
	return pool.Provider == "mdm_device_ca" && !pool.NoSessionResumption
}

// hasResumptionVerifier reports whether ca's verifiers name this module.
func hasResumptionVerifier(ca *caddytls.ClientAuthentication) bool {
	for _, raw := range ca.VerifiersRaw {
		var v struct {
			Verifier string `json:"verifier"`
		}
		if json.Unmarshal(raw, &v) == nil && v.Verifier == "mdm_session_resumption" {
			return true
		}
	}
	return false
}

// Interface guards
var (
	_ caddy.Provisioner                  = (*SessionResumption)(nil)
	_ caddytls.ClientCertificateVerifier = (*SessionResumption)(nil)
	_ caddyfile.Unmarshaler              = (*SessionResumption)(nil)
)
