package caddymdm

import (
	"bytes"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
)

// compareHash compares a password with a configured hash of either
// algorithm, told apart by its prefix (hashAlgorithm checked each at load),
// so that users of one block may mix them: an admin moves users from
// bcrypt to argon2id one at a time.
func compareHash(hash, plaintext []byte) (bool, error) {
	if bytes.HasPrefix(hash, []byte("$"+algoArgon2id+"$")) {
		return caddyauth.Argon2idHash{}.Compare(hash, plaintext)
	}
	return caddyauth.BcryptHash{}.Compare(hash, plaintext)
}

// dummyPasswordHash returns the hash unknown users are compared with: of
// the configured algorithm at its highest cost, so that refusing an
// unknown user costs what refusing a known one does. When the users mix
// bcrypt and argon2id, how their costs compare depends on the machine: a
// dummy of each is timed here and the slower kept, so an unknown user
// costs at least what any known one does; the warning says that timing
// may still tell which accounts with the cheaper hash exist.
func dummyPasswordHash(policy string, bcrypts, argons [][]byte) ([]byte, error) {
	if len(argons) == 0 {
		return enroll.DummyBcryptHash(bcrypts...)
	}
	argon, err := dummyArgon2idHash(argons)
	if err != nil || len(bcrypts) == 0 {
		return argon, err
	}
	bc, err := enroll.DummyBcryptHash(bcrypts...)
	if err != nil {
		return nil, err
	}
	fake, algo := bc, algoBcrypt
	if checkTime(argon) > checkTime(bc) {
		fake, algo = argon, algoArgon2id
	}
	cheaper := algoArgon2id
	if algo == algoArgon2id {
		cheaper = algoBcrypt
	}
	logPasswordMix(policy, algo, cheaper)
	return fake, nil
}

// checkTime is the shorter of two checks of a wrong password against h:
// the shorter, since a check can only be slowed by the machine's load.
func checkTime(h []byte) time.Duration {
	best := time.Duration(-1)
	for i := 0; i < 2; i++ {
		start := time.Now()
		_, _ = compareHash(h, []byte("not the password"))
		if d := time.Since(start); best < 0 || d < best {
			best = d
		}
	}
	return best
}

// logPasswordMix warns at provision of a block mixing hash algorithms.
func logPasswordMix(policy, dummy, cheaper string) {
	caddy.Log().Named("mdm.auth").Warn("password users mix bcrypt and argon2id hashes: unknown user names are checked against the costlier algorithm, so a wrong password of a user with the cheaper hash is refused sooner than an unknown name, and timing may tell which of those accounts exist; hash every user with one algorithm to close this",
		zap.String("policy", policy), zap.String("unknown_users_checked_with", dummy), zap.String("cheaper_algorithm", cheaper))
}
