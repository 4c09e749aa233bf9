package caddymdm

import (
	"crypto/x509"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

func init() {
	caddy.RegisterModule(DeviceCAPool{})
}

// DeviceCAPool is a TLS trust pool holding the mdm app's device CA root, so
// that a site can ask devices for the client certificate issued at
// enrollment without naming a file:
//
//	client_auth {
//		mode verify_if_given
//		trust_pool mdm_device_ca
//	}
//
// verify_if_given lets enrollment (which has no certificate yet) through;
// mdm_omadm then binds each certificate to its device. The pool also lets
// devices resume TLS sessions on its policy (SessionResumption) unless
// no_session_resumption is set.
type DeviceCAPool struct {
	// Keep Caddy's default for client-authenticated policies: no session
	// tickets, a full handshake on every connection.
	NoSessionResumption bool `json:"no_session_resumption,omitempty"`

	pool *x509.CertPool
}

// CaddyModule returns the Caddy module information.
func (DeviceCAPool) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.ca_pool.source.mdm_device_ca",
		New: func() caddy.Module { return new(DeviceCAPool) },
	}
}

// Provision loads the device CA of the mdm app.
func (p *DeviceCAPool) Provision(ctx caddy.Context) error {
	app, err := appFrom(ctx)
	if err != nil {
		return err
	}
	p.pool = app.DeviceCAPool()
	app.registerDevicePool(p.pool, !p.NoSessionResumption)
	if !p.NoSessionResumption {
		offerResumption(ctx)
	}
	return nil
}

// CertPool implements caddytls.CA.
func (p DeviceCAPool) CertPool() *x509.CertPool { return p.pool }

// UnmarshalCaddyfile sets up the pool from Caddyfile tokens. Syntax:
//
//	trust_pool mdm_device_ca [{
//		no_session_resumption
//	}]
func (p *DeviceCAPool) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.Err("mdm_device_ca takes no arguments: the CA is the mdm app's device_ca")
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "no_session_resumption":
			if d.NextArg() {
				return d.ArgErr()
			}
			p.NoSessionResumption = true
		default:
			return d.Errf("mdm_device_ca: unknown option %q (the only one is no_session_resumption)", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*DeviceCAPool)(nil)
	_ caddytls.CA           = (*DeviceCAPool)(nil)
	_ caddyfile.Unmarshaler = (*DeviceCAPool)(nil)
)
