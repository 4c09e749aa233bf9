package emulator

import (
	"crypto/md5"
	"encoding/base64"
)

// digest is the device's own computation of the OMA DM MD5 digest (P13),
// written from the specification rather than taken from the server, so a
// wrong formula on either side shows as a failed session:
//
//	b64( MD5( b64(MD5(name ":" secret)) ":" nonce ) )
//
// with nonce the raw bytes of the base64 nonce the other side sent.
func digest(name, secret string, nonce []byte) string {
	inner := md5.Sum([]byte(name + ":" + secret))
	outer := md5.Sum(append([]byte(base64.StdEncoding.EncodeToString(inner[:])+":"), nonce...))
	return base64.StdEncoding.EncodeToString(outer[:])
}
