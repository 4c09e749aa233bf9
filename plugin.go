// Package caddymdm is the import path xcaddy uses for
// `xcaddy build --with github.com/caddy-mdm/caddy-mdm`: it plugs the modules
// of the caddymdm package (the mdm app and its HTTP handlers) into the build.
package caddymdm

import _ "github.com/caddy-mdm/caddy-mdm/caddymdm"
