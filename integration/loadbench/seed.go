package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// seed writes n enrolled device records, and their certificate and
// hardware index entries, in the store's file layout, as a large fleet
// leaves them. Files are written directly (no fsync): this is setup, not
// what is measured.
func seed(caddyDir string, n int) error {
	root := filepath.Join(caddyDir, "mdm")
	now := time.Now()
	for i := range n {
		id := randomHex(16)
		thumb := randomHex(20)
		hw := randomHex(32)
		d := store.Device{
			DeviceID: id, HWDevID: hw, DeviceName: "SEEDED-" + id[:6], DeviceType: "CIMClient_Windows",
			OSVersion: "10.0.19043.2364", EnrollmentType: "Full", User: "demo@contoso.com", AuthPolicy: "OnPremise",
			State: store.StateEnrolled, EnrolledAt: now, UpdatedAt: now,
			Certificate: store.Certificate{Serial: randomHex(16), Thumbprint: thumb, Subject: "CN=" + id, NotBefore: now, NotAfter: now.AddDate(1, 0, 0)},
			Digest: store.DigestSecrets{ClientSecret: randomHex(24), ClientNonce: "AAAAAAAAAAAAAAAAAAAAAA==", ServerName: id,
				ServerSecret: randomHex(24), ServerNonce: "AAAAAAAAAAAAAAAAAAAAAA=="},
		}
		rec, _ := json.Marshal(d)
		if err := write(filepath.Join(root, "devices", id, "record.json"), rec); err != nil {
			return err
		}
		ref := []byte(`{"device_id":"` + id + `"}`)
		if err := write(filepath.Join(root, "certificates", thumb+".json"), ref); err != nil {
			return err
		}
		if err := write(filepath.Join(root, "hardware", hw+".json"), ref); err != nil {
			return err
		}
		if i%20000 == 19999 {
			println("  seeded", i+1)
		}
	}
	return nil
}

func write(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
