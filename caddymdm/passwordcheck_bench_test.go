package caddymdm

import (
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"golang.org/x/crypto/bcrypt"
)

// BenchmarkPasswordCheck is the cost of one OnPremise password check, as
// auth on_premise compares (with Caddy's comparers): bcrypt at the
// quickstart's cost (10) and the production example's (12), and argon2id
// with `caddy hash-password --algorithm argon2id`'s defaults (46 MiB, one
// pass, one thread). Run it with
//
//	go test -run '^$' -bench PasswordCheck -benchtime 20x ./caddymdm
func BenchmarkPasswordCheck(b *testing.B) {
	const pw = "demo-password"
	type algo struct {
		name    string
		hash    []byte
		compare func(hash, plaintext []byte) (bool, error)
	}
	var algos []algo
	for _, cost := range []int{10, 12} {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			b.Fatal(err)
		}
		algos = append(algos, algo{"bcrypt-" + strconv.Itoa(cost), h, caddyauth.BcryptHash{}.Compare})
	}
	algos = append(algos, algo{"argon2id-default", []byte(testArgon2idHash), caddyauth.Argon2idHash{}.Compare})
	for _, a := range algos {
		b.Run(a.name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := a.compare(a.hash, []byte(pw)); !ok || err != nil {
					b.Fatalf("%s: %v %v", a.name, ok, err)
				}
			}
		})
	}
}
