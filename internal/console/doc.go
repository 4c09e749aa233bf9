// Package console is the admin web console of caddy-mdm: server-rendered
// pages (html/template, assets embedded, small progressive JS) over the
// fleet, one device, and profiles, with SVG charts drawn on the server.
//
// It knows nothing of Caddy. The caddymdm layer (http.handlers.mdm_console)
// says who the authenticated admin is, read from Caddy's placeholders, and
// supplies a Backend: the same service functions the admin API calls, so
// the console holds no rule of its own about devices, commands or
// profiles. What the console owns is presentation and the safety of the
// browser channel: no page without an authenticated user (403 explaining
// how to put authentication in front), a CSRF token on every POST (an
// HMAC of the user and a per-browser cookie, under a secret kept in the
// store so every node of a cluster accepts it), an Origin check, SameSite
// cookies, and a confirmation step for destructive actions.
package console
