package caddymdm

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-mdm/caddy-mdm/internal/profile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("mdm", parseGlobalMDM)
	httpcaddyfile.RegisterDirective("mdm", parseMDMDirective)
	httpcaddyfile.RegisterHandlerDirective("mdm_discovery", handlerParser(new(Discovery)))
	httpcaddyfile.RegisterHandlerDirective("mdm_xcep", handlerParser(new(XCEP)))
	httpcaddyfile.RegisterHandlerDirective("mdm_wstep", handlerParser(new(WSTEP)))
	httpcaddyfile.RegisterHandlerDirective("mdm_omadm", handlerParser(new(OMADM)))
	httpcaddyfile.RegisterHandlerDirective("mdm_hub", handlerParser(new(Hub)))
	httpcaddyfile.RegisterHandlerDirective("mdm_login", handlerParser(new(Login)))
	httpcaddyfile.RegisterDirectiveOrder("mdm_login", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterHandlerDirective("mdm_terms_of_use", handlerParser(new(TermsOfUse)))
	httpcaddyfile.RegisterDirectiveOrder("mdm_terms_of_use", httpcaddyfile.Before, "respond")
	for _, dir := range []string{"mdm", "mdm_discovery", "mdm_xcep", "mdm_wstep", "mdm_omadm", "mdm_hub"} {
		httpcaddyfile.RegisterDirectiveOrder(dir, httpcaddyfile.Before, "respond")
	}
}

// parseMDMDirective sets up every MDM service on its standard path in one
// line. Syntax:
//
//	mdm
//
// It expands to mdm_discovery on /EnrollmentServer/Discovery.svc, mdm_xcep
// on /EnrollmentServer/Policy.svc, mdm_wstep on
// /EnrollmentServer/Enrollment.svc, mdm_omadm on /ManagementServer/MDM.svc
// and mdm_terms_of_use on /EnrollmentServer/TermsOfUse (404 unless auth
// entra has terms of use), and mdm_login on /EnrollmentServer/Login and
// below (404 unless auth federated has users or oidc); any other path under
// /EnrollmentServer/ and /ManagementServer/ gets a 404 and a log line. Use the
// single-handler directives to mount a
// service elsewhere (and set policy_url / enrollment_url / management_url in
// the mdm global option so devices are told where it is).
func parseMDMDirective(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	h.Next() // directive name
	if h.NextArg() {
		return nil, h.Errf("mdm takes no arguments or matcher: it serves the standard paths (use mdm_discovery, mdm_xcep, mdm_wstep to mount services elsewhere)")
	}
	if h.NextBlock(0) {
		return nil, h.Err("mdm takes no block: configure the mdm global option")
	}
	var routes []httpcaddyfile.ConfigValue
	for _, svc := range []struct {
		path    string
		handler caddyhttp.MiddlewareHandler
	}{
		{DiscoveryPath, new(Discovery)},
		{PolicyPath, new(XCEP)},
		{EnrollmentPath, new(WSTEP)},
		{ManagementPath, new(OMADM)},
		{TermsOfUsePath, new(TermsOfUse)},
	} {
		match := caddy.ModuleMap{"path": caddyconfig.JSON(caddyhttp.MatchPath{svc.path}, nil)}
		routes = append(routes, h.NewRoute(match, svc.handler)...)
	}
	// The federated login page and its sub-paths (the OpenID Connect
	// sign-in); 404 unless auth federated has users or oidc.
	loginMatch := caddy.ModuleMap{"path": caddyconfig.JSON(caddyhttp.MatchPath{LoginPath, LoginPath + "/*"}, nil)}
	routes = append(routes, h.NewRoute(loginMatch, new(Login))...)
	// Anything else under the MDM's paths: 404 and a log line (Caddy sorts
	// the longer paths above first).
	rest := caddy.ModuleMap{"path": caddyconfig.JSON(caddyhttp.MatchPath(mdmPrefixes), nil)}
	routes = append(routes, h.NewRoute(rest, new(UnknownPath))...)
	return routes, nil
}

// handlerParser returns the Caddyfile parser of a handler directive.
func handlerParser(proto caddyfile.Unmarshaler) httpcaddyfile.UnmarshalHandlerFunc {
	return func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := proto.(caddy.Module).CaddyModule().New()
		if err := m.(caddyfile.Unmarshaler).UnmarshalCaddyfile(h.Dispenser); err != nil {
			return nil, err
		}
		return m.(caddyhttp.MiddlewareHandler), nil
	}
}

// noOptions consumes a directive that takes no arguments and no block.
func noOptions(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("%s takes no options: configure the mdm global option", d.Val())
	}
	return nil
}

// parseGlobalMDM parses the mdm global option. Syntax:
//
//	mdm {
//		provider_id            <id>
//		display_name           <name>
//		base_url               https://enterpriseenrollment.<domain>
//		policy_url             <url>
//		enrollment_url         <url>
//		management_url         <url>
//		storage                <module> { ... }
//		auth on_premise {
//			user <username> <bcrypt or argon2id hash>
//			user_failures   <burst> <interval>|off
//			client_failures <burst> <interval>|off
//			failure_keys    <n>
//		}
//		auth federated {
//			user <username> <bcrypt or argon2id hash>
//			user_failures   <burst> <interval>|off
//			client_failures <burst> <interval>|off
//			failure_keys    <n>
//			oidc {
//				issuer          <url>
//				client_id       <id>
//				client_secret   <secret, e.g. {env.OIDC_CLIENT_SECRET}>
//				redirect_url    <url>
//				scopes          <scope>...
//				username_claim  <claim>
//				allowed_domains <domain>...
//				claim           <name> <value>...
//				name            <button label>
//			}
//			token_lifetime             <duration>
//			token_secret               <secret, e.g. {env.MDM_TOKEN_SECRET}>
//			authentication_service_url <url>
//		}
//		auth certificate {
//			trusted_ca_cert_file <pem-file>
//		}
//		auth entra {
//			tenant     <tenant-id>...
//			client_id  <application-id>
//			audience   <app-id-uri>...
//			jwks_url   <url>
//			jwks_file  <file>
//			clock_skew <duration>
//			terms_of_use {
//				text          <text>
//				file          <html-file>
//				secret        <secret, e.g. {env.MDM_TOU_SECRET}>
//				blob_validity <duration>
//			}
//		}
//		device_ca {
//			pki_ca    <id>
//			sign_with root|intermediate
//			cert_file <pem-file>
//			key_file  <pem-file>
//			root_cert_file <pem-file>
//			key_type  rsa|ecdsa
//		}
//		certificate_validity   <duration>
//		renewal_period         <duration>
//		renewal_retry_interval <duration>
//		disable_robo
//		min_key_length         <bits>
//		max_enrollment_version <major.minor>
//		max_body_size          <bytes>
//		management_auth        certificate|digest|either
//		max_message_size       <bytes>
//		max_object_size        <bytes>
//		trace_exchanges        <n>
//		profiles_dir           <dir>
//		retry {
//			count           <n>
//			initial_backoff <duration>
//			max_backoff     <duration>
//		}
//		poll {
//			first_set     <count> <interval>
//			second_set    <count> <interval>
//			remaining_set <count> <interval>
//			on_login      true|false
//		}
//		windows_phone8 {
//			mode               auto|always|never
//			oma_dm_retry       <num> <interval> <aux_num> <aux_interval> <aux2_num> <aux2_interval>
//			aetx_file          <file>
//			enterprise_id      <id>
//			enrollment_token   <token>
//			store_product_id   <id>
//			store_uri          <url>
//			store_display_name <name>
//			crl_check          true|false
//		}
//	}
//
// Durations take Caddy's units plus d for days (365d).
//
// profiles_dir names a directory of configuration profiles, one <name>.xml
// each: a SyncML fragment with its targets in an XML comment line such as
// <!-- @mdm include_any=finance exclude_any=kiosk retries=3 --> (or @mdm
// all). Every file is validated at config load; the profiles are applied
// when the app starts, and a reload applies changes (files removed delete
// their profiles).
//
// In auth on_premise, user_failures and client_failures limit failed
// password checks per user name (any case) and per client address: <burst>
// failures, then one more per <interval>; a request over either limit is
// refused (Authentication fault) before its password is checked, even a
// right one. Defaults: user_failures 5 1m, client_failures 20 6s,
// failure_keys 10000 (the most user names and addresses each limit
// remembers, least recently used forgotten first).
//
// auth federated serves this server's login page on
// /EnrollmentServer/Login (the `mdm` directive mounts mdm_login there) when
// it has users (same rules and limits as on_premise) or an oidc provider,
// and discovery announces that page unless authentication_service_url names
// another. The page hands out HS256 tokens valid token_lifetime (default
// 10m, at most 1h), each good for one enrollment; token_secret is optional
// with a local page (default: a random secret kept in the mdm storage) and
// required with an external one, which mints the tokens.
//
// auth entra is Entra ID (Azure AD) join and work-account enrollment:
// Windows sends the user's Entra access token, which must be signed by a
// key of jwks_url (default Microsoft's published keys,
// https://login.microsoftonline.com/common/discovery/v2.0/keys) or
// jwks_file, be issued by one of the tenants (tenant IDs, GUIDs; required),
// name one of the audiences (client_id for v2 tokens, audience for the
// Application ID URI of v1 tokens) and carry the mdm_delegation scope.
// clock_skew (default 2m, at most 10m) is the skew allowed on exp and nbf.
// With terms_of_use, the page at /EnrollmentServer/TermsOfUse shows the
// terms (text, or an HTML fragment from file) and enrollment requires its
// acceptance; secret seals the acceptance (default: a random one kept in
// the mdm storage, the same across reloads and cluster nodes) and blob_validity
// (default 15m) is how long it is accepted.
func parseGlobalMDM(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch key := d.Val(); key {
		case "provider_id":
			err = oneArg(d, &app.ProviderID)
		case "display_name":
			err = oneArg(d, &app.DisplayName)
		case "base_url":
			err = oneArg(d, &app.BaseURL)
		case "policy_url":
			err = oneArg(d, &app.PolicyURL)
		case "enrollment_url":
			err = oneArg(d, &app.EnrollmentURL)
		case "management_url":
			err = oneArg(d, &app.ManagementURL)
		case "max_enrollment_version":
			err = oneArg(d, &app.MaxEnrollmentVersion)
		case "certificate_validity":
			err = durationArg(d, &app.CertificateValidity)
		case "renewal_period":
			err = durationArg(d, &app.RenewalPeriod)
		case "renewal_retry_interval":
			err = durationArg(d, &app.RenewalRetryInterval)
		case "disable_robo":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			app.DisableROBO = true
		case "min_key_length":
			err = intArg(d, &app.MinKeyLength)
		case "max_body_size":
			var n int
			err = intArg(d, &n)
			app.MaxBodySize = int64(n)
		case "management_auth":
			err = oneArg(d, &app.ManagementAuth)
		case "max_message_size":
			err = intArg(d, &app.MaxMessageSize)
		case "max_object_size":
			err = intArg(d, &app.MaxObjectSize)
		case "trace_exchanges":
			err = intArg(d, &app.TraceExchanges)
		case "profiles_dir":
			if err = oneArg(d, &app.ProfilesDir); err == nil {
				app.ProfilesDirDigest = profile.DirDigest(app.ProfilesDir)
			}
		case "storage":
			app.StorageRaw, err = parseStorage(d)
		case "auth":
			app.Auth, err = parseAuth(d)
		case "device_ca":
			app.DeviceCA, err = parseDeviceCA(d)
		case "retry":
			app.Retry, err = parseRetry(d)
		case "poll":
			app.Poll, err = parsePoll(d)
		case "windows_phone8":
			app.WindowsPhone8, err = parseWP8(d)
		default:
			return nil, d.Errf("mdm: unknown option %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	return httpcaddyfile.App{Name: "mdm", Value: caddyconfig.JSON(app, nil)}, nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("%q is not a number", s)
	}
	*dst = n
	return nil
}

func boolArg(d *caddyfile.Dispenser, dst *bool) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return d.Errf("%q is not true or false", s)
	}
	*dst = b
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%q is not a duration: %v", s, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// countInterval reads "<count> <interval>".
func countInterval(d *caddyfile.Dispenser, n *int, iv *caddy.Duration) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.ArgErr()
	}
	c, err := strconv.Atoi(args[0])
	if err != nil {
		return d.Errf("%q is not a count", args[0])
	}
	dur, err := caddy.ParseDuration(args[1])
	if err != nil {
		return d.Errf("%q is not a duration", args[1])
	}
	*n, *iv = c, caddy.Duration(dur)
	return nil
}
