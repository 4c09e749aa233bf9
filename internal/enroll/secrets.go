package enroll

import (
	"encoding/base64"
	"fmt"
	"io"
)

// NonceSize is the size of an OMA-DM digest nonce (P14).
const NonceSize = 16

// secretSize is the entropy of a generated digest secret: 192 bits.
const secretSize = 24

// randomNonce returns 16 random bytes, base64-encoded.
func randomNonce(r io.Reader) (string, error) {
	b := make([]byte, NonceSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generating nonce: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// randomSecret returns a URL-safe random secret that needs no escaping in
// XML or in a digest input.
func randomSecret(r io.Reader) (string, error) {
	b := make([]byte, secretSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generating secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
