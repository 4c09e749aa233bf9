// Package caddymdm registers the caddy-mdm modules with Caddy.
package caddymdm
