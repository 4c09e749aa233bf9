package caddymdm

import (
	"encoding/json"
	"strings"
	"testing"
)

const fedSite = "\nenterpriseenrollment.example.com {\n\ttls internal\n\tmdm\n}\n"

// TestFederatedConfig: `auth federated` in one block, with local users and
// an oidc provider, adapts to the JSON fields, validates, and the `mdm`
// directive mounts the login page on its path and below.
func TestFederatedConfig(t *testing.T) {
	cfg := adaptSnippet(t, `{
	mdm {
		display_name "Contoso IT"
		auth federated {
			user alice@contoso.com $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n.
			user_failures 3 1h
			token_lifetime 5m
			oidc {
				issuer https://login.contoso.com/realms/staff
				client_id caddy-mdm
				client_secret {env.OIDC_CLIENT_SECRET}
				scopes email groups
				allowed_domains contoso.com fabrikam.com
				claim groups mdm-enroll it
				name "Contoso SSO"
			}
		}
	}
}`+fedSite)
	b, _ := json.Marshal(cfg)
	js := string(b)
	for _, want := range []string{
		`"policy":"federated"`, `"token_lifetime":300000000000`, `"issuer":"https://login.contoso.com/realms/staff"`,
		`"client_secret":"{env.OIDC_CLIENT_SECRET}"`, `"allowed_domains":["contoso.com","fabrikam.com"]`,
		`"claim":"groups"`, `"claim_values":["mdm-enroll","it"]`, `"scopes":["email","groups"]`,
		`"handler":"mdm_login"`, `"/EnrollmentServer/Login/*"`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("adapted config lacks %s:\n%s", want, js)
		}
	}
	if err := validate(t, cfg); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

func TestFederatedConfigErrors(t *testing.T) {
	user := "user demo $2a$10$dZYNlhVd.QBD.EjGSM4xTuY5LygfKhyOTKxKsXoPNlKjOgXOfI7n."
	for name, tc := range map[string]struct{ auth, want string }{
		"nothing to sign in with":  {"auth federated {\n token_lifetime 5m\n }", "needs users or oidc"},
		"external page, no secret": {"auth federated {\n authentication_service_url https://login.example.com\n }", "needs token_secret"},
		"lifetime too long":        {"auth federated {\n " + user + "\n token_lifetime 2h\n }", "token_lifetime"},
		"plain password":           {"auth federated {\n user demo demo\n }", "not a bcrypt or argon2id hash"},
		"oidc issuer not a URL":    {"auth federated {\n oidc {\n issuer login.example.com\n client_id x\n }\n }", "not an http(s) URL"},
		"oidc relative redirect":   {"auth federated {\n oidc {\n issuer https://login.example.com\n client_id x\n redirect_url /cb\n }\n }", "not an absolute URL"},
		"short secret, local page": {"auth federated {\n " + user + "\n token_secret short\n }", "at least 32 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := adaptSnippet(t, "{\nmdm {\n"+tc.auth+"\n}\n}\n"+fedSite)
			err := validate(t, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
