package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// seed lays out n enrolled devices in the store's file layout, as a large
// fleet leaves them: a directory per device with its record, and an entry
// per device in the certificate and hardware indexes (new enrollments of
// Windows IDs no longer write a certificate entry, but a fleet enrolled by
// an earlier version has one per device, and lookups read that index
// first: the larger directory is the harder case). What a lookup costs
// depends on these directories (their entries, the file system's index of
// them), so they are real: n device directories, n entries in each index.
// The files' contents are not: every seeded record is a hard link to one
// record file (and every index entry to one entry file), since no request
// of the run reads a seeded device, and a million copies of 1.5 KB would
// cost gigabytes and minutes for nothing measured. Nothing is fsynced:
// this is setup, not what is measured.
func seed(caddyDir string, n int) error {
	root := filepath.Join(caddyDir, "mdm")
	now := time.Now()
	tmpl := filepath.Join(filepath.Dir(caddyDir), "seed-template")
	id0 := randomHex(16)
	d := store.Device{
		DeviceID: id0, HWDevID: randomHex(32), DeviceName: "SEEDED-" + id0[:6], DeviceType: "CIMClient_Windows",
		OSVersion: "10.0.19043.2364", EnrollmentType: "Full", User: "demo@contoso.com", AuthPolicy: "OnPremise",
		State: store.StateEnrolled, EnrolledAt: now, UpdatedAt: now,
		Certificate: store.Certificate{Serial: randomHex(16), Thumbprint: randomHex(20), Subject: "CN=" + id0, NotBefore: now, NotAfter: now.AddDate(1, 0, 0)},
		Digest: store.DigestSecrets{ClientSecret: randomHex(24), ClientNonce: "AAAAAAAAAAAAAAAAAAAAAA==", ServerName: id0,
			ServerSecret: randomHex(24), ServerNonce: "AAAAAAAAAAAAAAAAAAAAAA=="},
	}
	rec, _ := json.Marshal(d)
	recs := &linker{dir: tmpl, name: "record", content: rec}
	refs := &linker{dir: tmpl, name: "ref", content: []byte(`{"device_id":"` + id0 + `"}`)}
	ones := &linker{dir: tmpl, name: "one", content: []byte("1")}
	// The device index (mdm/index/state/<state>/<shard>/<id>) and its
	// marker, so that the server finds the index built, as a fleet's is.
	if err := write(filepath.Join(root, "index", "version.json"), []byte(`{"version":1}`)); err != nil {
		return err
	}
	enrolledIndex := filepath.Join(root, "index", "state", string(store.StateEnrolled))
	for _, dir := range []string{"devices", "certificates", "hardware"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o700); err != nil {
			return err
		}
	}
	for i := range n {
		id := randomHex(16)
		dir := filepath.Join(root, "devices", id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		if err := recs.link(filepath.Join(dir, "record.json")); err != nil {
			return err
		}
		if err := refs.link(filepath.Join(root, "certificates", randomHex(20)+".json")); err != nil {
			return err
		}
		if err := refs.link(filepath.Join(root, "hardware", randomHex(32)+".json")); err != nil {
			return err
		}
		shard := filepath.Join(enrolledIndex, id[:2])
		if err := os.MkdirAll(shard, 0o700); err != nil {
			return err
		}
		if err := ones.link(filepath.Join(shard, id)); err != nil {
			return err
		}
		if i%100000 == 99999 {
			println("  seeded", i+1)
		}
	}
	return nil
}

// linker hard-links files to one content, starting a new file before a
// file system's limit on links to one inode (65,000 on ext4).
type linker struct {
	dir, name string
	content   []byte
	n         int
	cur       string
}

func (l *linker) link(dst string) error {
	if l.n%50000 == 0 {
		l.cur = filepath.Join(l.dir, l.name+"."+strconv.Itoa(l.n/50000))
		if err := write(l.cur, l.content); err != nil {
			return err
		}
	}
	l.n++
	return os.Link(l.cur, dst)
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
