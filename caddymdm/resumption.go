package caddymdm

import (
	"crypto/sha256"
	"crypto/tls"
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

// Provision enables tickets on the policy that was just built with this
// verifier. A policy whose trust pool is not mdm_device_ca, or that set
// no_session_resumption, is a configuration error; a storage failure
// leaves tickets off (logged) rather than failing the whole config.
func (SessionResumption) Provision(ctx caddy.Context) error {
	httpApp := httpAppProvisioning(ctx)
	if httpApp == nil {
		return nil
	}
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	for name, srv := range httpApp.Servers {
		for i, pol := range srv.TLSConnPolicies {
			if pol == nil || pol.TLSConfig == nil || pol.ClientAuthentication == nil || !hasResumptionVerifier(pol.ClientAuthentication) {
				continue
			}
			log := ctx.Logger().With(zap.String("server", name), zap.Int("tls_connection_policy", i))
			allowed, known := app.devicePoolResumes(pol.TLSConfig.ClientCAs)
			switch {
			case !known:
				return fmt.Errorf("mdm_session_resumption: server %s, TLS connection policy %d: needs trust_pool mdm_device_ca in the same client_auth", name, i)
			case !allowed:
				return fmt.Errorf("mdm_session_resumption: server %s, TLS connection policy %d: its trust_pool mdm_device_ca says no_session_resumption", name, i)
			case ticketsTurnedOff(ctx):
				log.Warn("TLS session resumption stays off: the tls app's session_tickets say disabled")
				continue
			}
			keys, err := app.sessionTicketKeys(ctx)
			if err == nil {
				err = tlsresume.Enable(pol.TLSConfig, keys, resumptionRealm(app.ca.Root, pol.TLSConfig.ClientAuth))
			}
			if err != nil {
				log.Error("TLS session resumption stays off: devices make a full handshake on every connection", zap.Error(err))
				continue
			}
			log.Info("devices resume TLS sessions: tickets bound to the device CA and server name")
		}
	}
	return nil
}

// resumptionRealm names what a ticket's client authentication was: the
// device CA and how the policy asks for certificates.
func resumptionRealm(root *x509.Certificate, mode tls.ClientAuthType) []byte {
	h := sha256.New()
	h.Write(root.Raw)
	fmt.Fprintf(h, "\x00client auth %d", mode)
	return h.Sum(nil)
}

// ticketsTurnedOff reports whether the tls app's session_tickets turn
// tickets off, which resumption respects.
func ticketsTurnedOff(ctx caddy.Context) bool {
	v, err := ctx.App("tls")
	if err != nil {
		return false
	}
	t, ok := v.(*caddytls.TLS)
	return ok && t.SessionTickets != nil && t.SessionTickets.Disabled
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
