package caddymdm

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/tou"
)

// authEntra is the policy name of Entra ID enrollment in configuration.
const authEntra = "entra"

// EntraConfig is Entra ID (Azure AD) join and work-account enrollment:
// Windows presents an Entra access token for the MDM application, which
// the server verifies against Microsoft's signing keys, the allowed
// tenants and the application's audiences.
type EntraConfig struct {
	// The tenant IDs (GUIDs) whose users may enroll. Required: a token of
	// any other tenant is refused, whoever signed it.
	Tenants []string `json:"tenants,omitempty"`
	// The application (client) ID of the MDM application registered in
	// Entra ID, a GUID (any case): the audience of v2 tokens. At least one of client_id and
	// audiences is required.
	ClientID string `json:"client_id,omitempty"`
	// More accepted audiences: the MDM application's Application ID URI,
	// which v1 tokens carry (e.g. https://enterpriseenrollment.contoso.com).
	Audiences []string `json:"audiences,omitempty"`
	// Where the signing keys are published. Default: Microsoft's,
	// https://login.microsoftonline.com/common/discovery/v2.0/keys.
	// https only (http for a loopback address).
	JWKSURL string `json:"jwks_url,omitempty"`
	// A JWKS file instead of jwks_url, for sites that cannot reach
	// Microsoft (copy the keys document there) and for tests.
	JWKSFile string `json:"jwks_file,omitempty"`
	// Clock skew allowed on exp and nbf. Default: 2m; at most 10m.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`
	// The terms of use page. When set, enrollment requires the OpaqueBlob
	// its Accept hands out.
	TermsOfUse *TermsOfUseConfig `json:"terms_of_use,omitempty"`

	// built is what authenticator made: the mdm_terms_of_use handler and
	// OMA-DM use the same verifier.
	built *entraParts
}

// TermsOfUseConfig is the terms-of-use page of Entra enrollment
// (mdm_terms_of_use, /EnrollmentServer/TermsOfUse with the mdm directive).
type TermsOfUseConfig struct {
	// The terms as plain text (paragraphs separated by blank lines). One of
	// text and file is required.
	Text string `json:"text,omitempty"`
	// A file holding the terms as an HTML fragment, shown as is (it is the
	// administrator's own; no scripts run: the page forbids them).
	File string `json:"file,omitempty"`
	// The HMAC secret sealing the page's form state and OpaqueBlobs, at
	// least 32 bytes; placeholders such as {env.MDM_TOU_SECRET} are
	// replaced. Default: a random secret created once in the mdm storage
	// (mdm/secrets/tou), kept across reloads and shared by the nodes of a
	// cluster.
	Secret string `json:"secret,omitempty"`
	// How long an OpaqueBlob is accepted after Accept. Default: 15m.
	BlobValidity caddy.Duration `json:"blob_validity,omitempty"`
}

// entraParts is the runtime of the Entra policy.
type entraParts struct {
	verifier *entra.Verifier
	// terms is nil when no terms of use are configured.
	acceptances *tou.Acceptances
	termsHTML   template.HTML
}

// authenticator builds the verifier, the terms-of-use parts and the
// enrollment authenticator.
// storage holds the terms-of-use secret when none is configured.
func (c *EntraConfig) authenticator(storage certmagic.Storage) (enroll.Authenticator, error) {
	if c == nil {
		return nil, errors.New("entra needs tenant and client_id or audience")
	}
	if err := c.checkIDs(); err != nil {
		return nil, err
	}
	audiences := append([]string(nil), c.Audiences...)
	if c.ClientID != "" {
		audiences = append(audiences, strings.ToLower(c.ClientID))
	}
	keys, err := c.keySet()
	if err != nil {
		return nil, err
	}
	v, err := entra.NewVerifier(c.Tenants, audiences, keys)
	if err != nil {
		return nil, fmt.Errorf("entra: %v", err)
	}
	if c.ClockSkew != 0 {
		if err := v.SetLeeway(time.Duration(c.ClockSkew)); err != nil {
			return nil, fmt.Errorf("entra clock_skew: %v", err)
		}
	}
	parts := &entraParts{verifier: v}
	auth := &enroll.EntraAuth{Verifier: v}
	if t := c.TermsOfUse; t != nil {
		if parts.acceptances, parts.termsHTML, err = t.build(storage); err != nil {
			return nil, fmt.Errorf("entra terms_of_use: %v", err)
		}
		auth.Terms = parts.acceptances
	}
	c.built = parts
	return auth, nil
}

// checkIDs checks that the tenant and client IDs are GUIDs, as the Entra
// admin center shows them (in any case: they compare case-insensitively).
func (c *EntraConfig) checkIDs() error {
	for _, t := range c.Tenants {
		if !entra.ValidTenantID(t) {
			return fmt.Errorf("entra: tenant %q is not a tenant ID (a GUID; see Entra admin center > Overview > Tenant ID)", t)
		}
	}
	if c.ClientID != "" && !entra.IsGUID(c.ClientID) {
		return fmt.Errorf("entra: client_id %q is not an application (client) ID (a GUID; see the app registration's Overview)", c.ClientID)
	}
	return nil
}

// keySet is the configured source of signing keys. A file is read now, so
// that a missing or broken one stops the start; a URL is fetched at the
// first token.
func (c *EntraConfig) keySet() (*entra.KeySet, error) {
	switch {
	case c.JWKSURL != "" && c.JWKSFile != "":
		return nil, errors.New("entra: jwks_url and jwks_file exclude each other")
	case c.JWKSFile != "":
		b, err := os.ReadFile(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("entra jwks_file: %v", err)
		}
		if _, err := entra.ParseJWKS(b); err != nil {
			return nil, fmt.Errorf("entra jwks_file %s: %v", c.JWKSFile, err)
		}
		return entra.NewFileKeySet(c.JWKSFile), nil
	}
	raw := c.JWKSURL
	if raw == "" {
		raw = entra.DefaultJWKSURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("entra jwks_url %q is not a URL", raw)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("entra jwks_url %q: signing keys are fetched over https (http only from a loopback address)", raw)
	}
	return entra.NewURLKeySet(raw, nil), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// termsOfUseSecret names the stored secret (store.Secret) that seals the
// terms-of-use page's state and OpaqueBlobs when no secret is configured:
// the same across reloads and restarts, and on every node of a cluster.
const termsOfUseSecret = "tou"

// build reads the terms and makes the OpaqueBlob sealer; the secret is the
// configured one, else the one stored in storage.
func (t *TermsOfUseConfig) build(storage certmagic.Storage) (*tou.Acceptances, template.HTML, error) {
	var terms template.HTML
	switch {
	case t.Text != "" && t.File != "":
		return nil, "", errors.New("text and file exclude each other")
	case t.Text != "":
		terms = tou.TextTerms(t.Text)
	case t.File != "":
		b, err := os.ReadFile(t.File)
		if err != nil {
			return nil, "", err
		}
		if len(b) > 1<<20 {
			return nil, "", fmt.Errorf("%s is larger than 1 MiB", t.File)
		}
		// The administrator's own HTML, trusted as such.
		terms = template.HTML(b)
	default:
		return nil, "", errors.New("the terms are missing: give text or file")
	}
	secret := []byte(caddy.NewReplacer().ReplaceAll(t.Secret, ""))
	if t.Secret == "" {
		if storage == nil {
			return nil, "", errors.New("no secret configured and no mdm storage to keep one")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var err error
		if secret, err = store.New(storage).Secret(ctx, termsOfUseSecret); err != nil {
			return nil, "", fmt.Errorf("secret: %v", err)
		}
	}
	acc, err := tou.NewAcceptances(secret)
	if err != nil {
		return nil, "", err
	}
	if t.BlobValidity > 0 {
		acc.TTL = time.Duration(t.BlobValidity)
	}
	return acc, terms, nil
}

// userTokenVerifier is the verifier of OMA-DM Alert 1224 user tokens: the
// Entra policy's, or nil under other policies.
func (c *AuthConfig) userTokenVerifier() omadm.UserTokenVerifier {
	if c == nil || c.Entra == nil || c.Entra.built == nil {
		return nil
	}
	return verifyUserToken{c.Entra.built.verifier}
}

// verifyUserToken adapts the Entra verifier to OMA-DM.
type verifyUserToken struct{ v *entra.Verifier }

func (u verifyUserToken) VerifyUserToken(ctx context.Context, token string) (user, tenantID string, err error) {
	id, err := u.v.Verify(ctx, token)
	if err != nil {
		return "", "", err
	}
	return id.User, id.TenantID, nil
}

// parseEntraAuth reads the block of `auth entra`. Syntax:
//
//	auth entra {
//		tenant     <tenant-id>...
//		client_id  <application-id>
//		audience   <app-id-uri>...
//		jwks_url   <url>
//		jwks_file  <file>
//		clock_skew <duration>
//		terms_of_use {
//			text          <text>
//			file          <html-file>
//			secret        <secret>
//			blob_validity <duration>
//		}
//	}
func parseEntraAuth(d *caddyfile.Dispenser) (*EntraConfig, error) {
	c := new(EntraConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "tenant":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Err("tenant needs at least one tenant ID")
			}
			c.Tenants = append(c.Tenants, args...)
		case "client_id":
			err = oneArg(d, &c.ClientID)
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Err("audience needs at least one value")
			}
			c.Audiences = append(c.Audiences, args...)
		case "jwks_url":
			err = oneArg(d, &c.JWKSURL)
		case "jwks_file":
			err = oneArg(d, &c.JWKSFile)
		case "clock_skew":
			err = durationArg(d, &c.ClockSkew)
		case "terms_of_use":
			c.TermsOfUse, err = parseTermsOfUse(d)
		default:
			return nil, d.Errf("auth entra: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.checkIDs(); err != nil {
		return nil, d.Err("auth " + err.Error())
	}
	return c, nil
}

func parseTermsOfUse(d *caddyfile.Dispenser) (*TermsOfUseConfig, error) {
	t := new(TermsOfUseConfig)
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch key := d.Val(); key {
		case "text":
			err = oneArg(d, &t.Text)
		case "file":
			err = oneArg(d, &t.File)
		case "secret":
			err = oneArg(d, &t.Secret)
		case "blob_validity":
			err = durationArg(d, &t.BlobValidity)
		default:
			return nil, d.Errf("terms_of_use: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(t.Text) == "" && t.File == "" {
		return nil, d.Err("terms_of_use needs text or file")
	}
	return t, nil
}
