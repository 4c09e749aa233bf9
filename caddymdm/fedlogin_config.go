package caddymdm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/fedlogin"
	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// OIDCConfig is the OpenID Connect provider of the federated login page:
// users sign in there (authorization code flow with PKCE) instead of with a
// local password.
type OIDCConfig struct {
	// The provider's issuer URL, e.g. https://login.contoso.com/realms/staff.
	// Required.
	Issuer string `json:"issuer"`
	// This server's client ID at the provider. Required.
	ClientID string `json:"client_id"`
	// The client secret; placeholders such as {env.OIDC_CLIENT_SECRET} are
	// replaced at load. Empty for a public client.
	ClientSecret string `json:"client_secret,omitempty"`
	// The callback URL registered at the provider. Default:
	// https://<host>/EnrollmentServer/Login/callback.
	RedirectURL string `json:"redirect_url,omitempty"`
	// Scopes to ask for besides openid. Default: email, profile.
	Scopes []string `json:"scopes,omitempty"`
	// The ID token claim naming the user (the device's owner). Default:
	// email (refused when the token's email_verified is present and not
	// true or "true"; a token without email_verified passes).
	UsernameClaim string `json:"username_claim,omitempty"`
	// Only users of these e-mail domains may sign in. Default: any.
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	// An ID token claim that must hold one of ClaimValues (for a list
	// claim such as groups: contain one). Default: no claim check.
	Claim string `json:"claim,omitempty"`
	// The accepted values of Claim.
	ClaimValues []string `json:"claim_values,omitempty"`
	// The provider's name on the login page's button. Default: the
	// issuer's host.
	Name string `json:"name,omitempty"`
}

// federatedTokenSecret names the stored secret (store.Secret) that signs
// the login page's tokens when no token_secret is configured: every node
// of a cluster reads the same one.
const federatedTokenSecret = "federated-tokens"

// federatedState is what the federated policy built at provisioning, for
// the mdm_login handler.
type federatedState struct {
	// storage is the mdm storage, set by the app before provisioning.
	storage certmagic.Storage
	// page is set when this server serves its own login page.
	page *loginSetup
}

// loginSetup is everything of the login page but the site name.
type loginSetup struct {
	passwords *enroll.PasswordAuth
	oidc      *fedlogin.OIDCConfig
	secret    []byte
	lifetime  time.Duration
}

// federatedAuth builds the Federated policy: tokens verified with the
// configured or stored secret and spent once, and, when users or oidc are
// configured, the login page that hands them out.
func (c *AuthConfig) federatedAuth() (enroll.Authenticator, error) {
	local := len(c.Users) > 0 || c.OIDC != nil
	if !local && c.AuthenticationServiceURL == "" {
		return nil, errors.New("federated needs users or oidc (for this server's login page), or authentication_service_url (a login page elsewhere, with token_secret)")
	}
	if c.fed.storage == nil {
		return nil, errors.New("federated needs the mdm storage")
	}
	lifetime := time.Duration(c.TokenLifetime)
	if lifetime == 0 {
		lifetime = fedtoken.DefaultLifetime
	}
	if lifetime < time.Minute || lifetime > fedtoken.MaxLifetime {
		return nil, fmt.Errorf("federated token_lifetime %v: want 1m to %v", lifetime, fedtoken.MaxLifetime)
	}
	var secret []byte
	switch {
	case c.TokenSecret != "":
		secret = []byte(caddy.NewReplacer().ReplaceAll(c.TokenSecret, ""))
		if len(secret) < fedtoken.MinSecretLength {
			return nil, fmt.Errorf("federated token_secret must be at least %d bytes", fedtoken.MinSecretLength)
		}
	case !local:
		return nil, errors.New("federated with an external authentication_service_url needs token_secret: the page there mints the tokens with it")
	default:
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var err error
		if secret, err = store.New(c.fed.storage).Secret(ctx, federatedTokenSecret); err != nil {
			return nil, fmt.Errorf("federated token secret: %v", err)
		}
	}
	c.fed.page = nil
	if local {
		page := &loginSetup{secret: secret, lifetime: lifetime}
		if len(c.Users) > 0 {
			pa, err := c.passwordAuth()
			if err != nil {
				return nil, err
			}
			page.passwords = pa
		}
		if c.OIDC != nil {
			page.oidc = c.OIDC.settings()
		}
		// Checked now, so that `caddy validate` reports a bad oidc block.
		if _, err := page.server("", nil); err != nil {
			return nil, fmt.Errorf("federated login page: %v", err)
		}
		c.fed.page = page
	}
	log := caddy.Log().Named("mdm.auth")
	return &enroll.TokenAuth{
		ServiceURL: c.AuthenticationServiceURL,
		Verifier: enroll.HMACTokenVerifier{Secret: secret, Now: time.Now, Ledger: &fedtoken.Ledger{
			Storage:      c.fed.storage,
			OnSweepError: func(err error) { log.Error("removing expired spent-token records", zap.Error(err)) },
		}},
	}, nil
}

// settings is the internal form of the oidc block.
func (o *OIDCConfig) settings() *fedlogin.OIDCConfig {
	return &fedlogin.OIDCConfig{
		Issuer: o.Issuer, ClientID: o.ClientID,
		ClientSecret:   caddy.NewReplacer().ReplaceAll(o.ClientSecret, ""),
		RedirectURL:    o.RedirectURL,
		Scopes:         o.Scopes,
		UsernameClaim:  o.UsernameClaim,
		AllowedDomains: o.AllowedDomains,
		Claim:          o.Claim, ClaimValues: o.ClaimValues,
		Name: o.Name,
	}
}

// server builds the page for a site name; report receives its events.
func (p *loginSetup) server(site string, report func(*http.Request, fedlogin.Event)) (*fedlogin.Server, error) {
	cfg := fedlogin.Config{
		Site: site, OIDC: p.oidc, Key: p.secret, ClientAddr: remoteIP, Report: report,
		Mint: func(user string) (string, error) { return fedtoken.Mint(p.secret, user, p.lifetime, time.Now()) },
	}
	// A nil *PasswordAuth in the interface would not be nil.
	if p.passwords != nil {
		cfg.Passwords = p.passwords
	}
	return fedlogin.New(cfg)
}

// parseOIDC reads an oidc block of auth federated:
//
//	oidc {
//		issuer          <url>
//		client_id       <id>
//		client_secret   <secret, e.g. {env.OIDC_CLIENT_SECRET}>
//		redirect_url    <url>
//		scopes          <scope>...
//		username_claim  <claim>
//		allowed_domains <domain>...
//		claim           <name> <value>...
//		name            <button label>
//	}
func parseOIDC(d *caddyfile.Dispenser) (*OIDCConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	o := new(OIDCConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "issuer":
			err = oneArg(d, &o.Issuer)
		case "client_id":
			err = oneArg(d, &o.ClientID)
		case "client_secret":
			err = oneArg(d, &o.ClientSecret)
		case "redirect_url":
			err = oneArg(d, &o.RedirectURL)
		case "username_claim":
			err = oneArg(d, &o.UsernameClaim)
		case "name":
			err = oneArg(d, &o.Name)
		case "scopes":
			o.Scopes = append(o.Scopes, d.RemainingArgs()...)
		case "allowed_domains":
			o.AllowedDomains = append(o.AllowedDomains, d.RemainingArgs()...)
		case "claim":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return nil, d.Err("claim needs a claim name and at least one accepted value")
			}
			o.Claim, o.ClaimValues = args[0], args[1:]
		default:
			return nil, d.Errf("oidc: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.Issuer == "" || o.ClientID == "" {
		return nil, d.Err("oidc needs issuer and client_id")
	}
	return o, nil
}
