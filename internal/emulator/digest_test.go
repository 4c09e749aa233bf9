package emulator

import "testing"

// TestEmulatorDigestKnownAnswers checks the OMA DM MD5 digest (P13) against answers computed
// outside Go with openssl, from the formula
//
//	b64( MD5( b64(MD5(name ":" secret)) ":" nonce ) )
//
// Commands used (bash):
//
//	inner=$(printf '%s' 'caddy-mdm:s3cret' | openssl dgst -md5 -binary | base64)   # jI0k+Gxpjxxaw8Hp5FV+Mg==
//	{ printf '%s:' "$inner"; printf '%s' '0123456789abcdef'; } | openssl dgst -md5 -binary | base64
//	# 4fMG7dfFy9TZB3+I8bZ/vg==
//
//	inner=$(printf '%s' '1E08C6E95D8BB843B1278FF45BC60CC6:server-secret' | openssl dgst -md5 -binary | base64)   # Qy1EHSSwyVHWURcBMKHZUA==
//	{ printf '%s:' "$inner"; printf '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\xff'; } | openssl dgst -md5 -binary | base64
//	# KLwN16up7ItDTJeP101uhw==
//
//	inner=$(printf '%s' ':' | openssl dgst -md5 -binary | base64)   # hTrpDwNRMkvXPqYV5kh1Fw==
//	printf '%s:' "$inner" | openssl dgst -md5 -binary | base64   # empty name, secret and nonce
//	# FQ/u7vcV00cOrlePowf4kA==
func TestEmulatorDigestKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		nonce        []byte
		want         string
	}{
		{"caddy-mdm", "s3cret", []byte("0123456789abcdef"), "4fMG7dfFy9TZB3+I8bZ/vg=="},
		{"1E08C6E95D8BB843B1278FF45BC60CC6", "server-secret",
			[]byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0xff}, "KLwN16up7ItDTJeP101uhw=="},
		{"", "", nil, "FQ/u7vcV00cOrlePowf4kA=="},
	} {
		if got := digest(tc.name, tc.secret, tc.nonce); got != tc.want {
			t.Errorf("digest(%q, %q, % x) = %s, want %s", tc.name, tc.secret, tc.nonce, got, tc.want)
		}
	}
}
