package caddymdm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Key types of the device CA this app creates (device_ca key_type).
const (
	// KeyTypeRSA: an RSA root signing with sha256WithRSA (PKCS#1 v1.5), what
	// every real-device capture and dump shows. The default.
	KeyTypeRSA = "rsa"
	// KeyTypeECDSA: caddypki's own EC P-256 root (ecdsa-with-SHA256); no
	// public evidence shows Windows using such a client certificate.
	KeyTypeECDSA = "ecdsa"
)

// deviceRootBits is the size of the RSA root created for the device CA.
// 3072 bits is the NIST size for security past 2030 (the root lives ten
// years) and matches P-256's strength; 4096 would double the cost of every
// signature (each enrollment and renewal) and make first start slower for no
// gain a device sees. Windows accepts both.
const deviceRootBits = 3072

// deviceRootLifetime is caddypki's root lifetime (ten 360-day years).
const deviceRootLifetime = 24 * time.Hour * 30 * 12 * 10

// pkiRootKeys are the storage keys caddypki loads a CA's root from
// (caddypki v2.11 ca.go: storageKeyRootCert, storageKeyRootKey).
func pkiRootKeys(id string) (certKey, keyKey string) {
	prefix := path.Join("pki", "authorities", certmagic.StorageKeys.Safe(id))
	return path.Join(prefix, "root.crt"), path.Join(prefix, "root.key")
}

// ensureRSARoot puts an RSA root for pki CA id into storage unless the CA
// already has a root there, so that caddypki then loads it instead of
// generating its EC P-256 one (caddypki has no key type setting). An existing
// root is never replaced: devices trust it. A storage lock keeps two
// processes starting at once from writing different roots.
func ensureRSARoot(ctx context.Context, storage certmagic.Storage, id, commonName string, logger *zap.Logger) error {
	certKey, keyKey := pkiRootKeys(id)
	if exists, err := storedRoot(ctx, storage, certKey); exists || err != nil {
		return err
	}
	lock := "mdm_device_ca_root_" + certmagic.StorageKeys.Safe(id)
	if err := storage.Lock(ctx, lock); err != nil {
		return fmt.Errorf("locking storage to create the device CA: %v", err)
	}
	defer func() {
		if err := storage.Unlock(context.WithoutCancel(ctx), lock); err != nil {
			logger.Error("unlocking storage after creating the device CA", zap.String("lock", lock), zap.Error(err))
		}
	}()
	if exists, err := storedRoot(ctx, storage, certKey); exists || err != nil {
		return err // exists: another process made it while this one waited
	}
	certPEM, keyPEM, err := newRSARoot(commonName, time.Now())
	if err != nil {
		return fmt.Errorf("creating the device CA root: %v", err)
	}
	// The key first: caddypki treats a missing root.crt as "no CA yet", so a
	// crash between the two writes leaves a stray key that the next start
	// overwrites, never a certificate without its key.
	if err := storage.Store(ctx, keyKey, keyPEM); err != nil {
		return fmt.Errorf("saving the device CA root key: %v", err)
	}
	if err := storage.Store(ctx, certKey, certPEM); err != nil {
		return fmt.Errorf("saving the device CA root certificate: %v", err)
	}
	logger.Info("created the device CA",
		zap.String("pki_ca", id),
		zap.String("key", fmt.Sprintf("RSA %d, sha256WithRSA", deviceRootBits)),
		zap.String("storage_key", certKey))
	return nil
}

// storedRoot tells whether storage holds a root certificate at certKey. As
// caddypki does, only "does not exist" counts as absent: a storage that fails
// otherwise must not lead to a new root over one that devices trust.
func storedRoot(ctx context.Context, storage certmagic.Storage, certKey string) (bool, error) {
	_, err := storage.Load(ctx, certKey)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("loading the device CA root: %v", err)
}

// newRSARoot makes a self-signed RSA root in the PEM encodings caddypki
// reads: a CERTIFICATE block, and the key as certmagic encodes it.
func newRSARoot(commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, deviceRootBits)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	start := now.Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: commonName},
		// An hour early, so a device whose clock is behind can still build
		// its chain right after the CA is created.
		NotBefore: start.Add(-time.Hour),
		NotAfter:  start.Add(deviceRootLifetime),
		// caddypki's root template: certSign and crlSign, a CA allowing one
		// intermediate below it (caddypki makes one).
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = certmagic.PEMEncodePrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}
