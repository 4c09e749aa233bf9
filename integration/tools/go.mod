// Test tools of the integration tests, kept out of the module that users
// build (xcaddy pulls in the root module's requirements, not these).
// integration/harness_test.go TestMain builds pebble, Let's Encrypt's ACME
// test server, from this directory.
module github.com/caddy-mdm/caddy-mdm/integration/tools

go 1.26.0

tool github.com/letsencrypt/pebble/v2/cmd/pebble

require (
	github.com/go-jose/go-jose/v4 v4.1.6 // indirect
	github.com/letsencrypt/challtestsrv v1.4.2 // indirect
	github.com/letsencrypt/pebble/v2 v2.10.1 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
