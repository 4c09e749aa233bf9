// Command caddy is Caddy with its standard modules plus the caddy-mdm modules,
// so `go run ./cmd/caddy run --config Caddyfile` works without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	// Redis as Caddy's storage, for a cluster (caddyfile-examples/cluster-redis.Caddyfile).
	_ "github.com/pberkel/caddy-storage-redis"

	_ "github.com/caddy-mdm/caddy-mdm/caddymdm"
)

func main() {
	caddycmd.Main()
}
