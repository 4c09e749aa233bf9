// Package integration runs caddy-mdm end to end: the caddy binary of
// cmd/caddy, started from the example Caddyfiles with its home, storage and
// ports in temporary directories, spoken to over real TLS on an
// enterpriseenrollment.* host name with the requests of real Windows devices.
package integration
