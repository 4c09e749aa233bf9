// Package randtext makes the random values the protocols exchange as text:
// OMA-DM digest nonces (P14: 16 random bytes, base64) and secrets and
// tokens that need no escaping in XML, URLs or a digest input.
package randtext

import (
	"encoding/base64"
	"fmt"
	"io"
)

// NonceSize is the size of an OMA-DM digest nonce (P14).
const NonceSize = 16

// Nonce returns NonceSize random bytes from r, base64-encoded.
func Nonce(r io.Reader) (string, error) {
	b := make([]byte, NonceSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generating a nonce: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Secret returns size random bytes from r as unpadded URL-safe base64.
func Secret(r io.Reader, size int) (string, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generating a secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
