package omadm

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
)

// Digest computes the OMA DM MD5 digest (P13):
//
//	b64( MD5( b64(MD5(name ":" secret)) ":" nonce ) )
//
// with nonce the raw bytes (the base64-decoded AAUTHDATA or NextNonce).
func Digest(name, secret string, nonce []byte) string {
	inner := md5.Sum([]byte(name + ":" + secret))
	h := md5.New()
	h.Write([]byte(base64.StdEncoding.EncodeToString(inner[:])))
	h.Write([]byte(":"))
	h.Write(nonce)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// checkDigest compares a device's digest with the expected one in constant time.
func checkDigest(got, name, secret, nonceB64 string) error {
	nonce, err := base64.StdEncoding.DecodeString(nonceB64)
	if err != nil {
		return fmt.Errorf("stored nonce is not base64: %v", err)
	}
	want := Digest(name, secret, nonce)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return fmt.Errorf("digest does not match the current nonce")
	}
	return nil
}
