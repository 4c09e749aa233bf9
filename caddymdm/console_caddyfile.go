package caddymdm

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("mdm_console", handlerParser(new(Console)))
	// Like the other mdm handlers, before respond: after basic_auth and
	// forward_auth, which must authenticate the admin first.
	httpcaddyfile.RegisterDirectiveOrder("mdm_console", httpcaddyfile.Before, "respond")
}

// UnmarshalCaddyfile sets up the console. Syntax:
//
//	mdm_console {
//		user      <placeholder>...   # who the admin is, first non-empty wins
//		page_size <n>                # devices per list page (default 50)
//	}
//
// user defaults to {http.auth.user.id} (set by basic_auth). Behind
// forward_auth, name the header it copies:
// `user {http.request.header.Remote-User}`; with client certificates,
// `user {http.request.tls.client.subject}` (counted only for a verified
// certificate). Put the authentication handler in the same site; without
// an authenticated user the console answers 403. To mount it below a
// path, use handle_path (links follow the stripped prefix):
//
//	mdm-admin.contoso.com {
//		basic_auth {
//			alice <bcrypt hash>
//		}
//		mdm_console
//	}
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("mdm_console takes no arguments: options go in its block (user, page_size)")
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "user":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("user needs at least one placeholder, e.g. {http.auth.user.id}")
			}
			c.UserPlaceholders = append(c.UserPlaceholders, args...)
		case "page_size":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 || n > 1000 {
				return d.Errf("page_size %q: want 1 to 1000", d.Val())
			}
			c.PageSize = n
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("mdm_console: unknown option %q (want user or page_size)", d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Console)(nil)
