package tou

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinSecretLength is the shortest secret accepted for sealing, in bytes.
const MinSecretLength = 32

// maxSealedLength bounds a sealed value before it is read.
const maxSealedLength = 4096

// Purposes keep a sealed value of one kind from passing as another: the
// form state of the page can never be replayed as an OpaqueBlob.
const (
	purposeState = "tou-state-v1"
	purposeBlob  = "tou-blob-v1"
)

// sealer signs small JSON values with HMAC-SHA256: "<payload>.<mac>", both
// base64url, the MAC over the purpose and the payload.
type sealer struct{ secret []byte }

func (s sealer) seal(purpose string, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(raw)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, p)), nil
}

// Errors of opening a sealed value.
var (
	errMalformed = errors.New("malformed")
	errForged    = errors.New("signature does not verify")
	errExpired   = errors.New("expired")
)

func (s sealer) open(purpose, sealed string, v any) error {
	if len(sealed) > maxSealedLength {
		return errMalformed
	}
	p, m, ok := strings.Cut(sealed, ".")
	if !ok {
		return errMalformed
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil {
		return errMalformed
	}
	if !hmac.Equal(mac, s.mac(purpose, p)) {
		return errForged
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return errMalformed
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errMalformed
	}
	return nil
}

func (s sealer) mac(purpose, payload string) []byte {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// acceptance is the OpaqueBlob: who accepted, until when.
type acceptance struct {
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	Expires  int64  `json:"exp"`
	Nonce    string `json:"n"`
}

// Acceptances mints and checks OpaqueBlobs: proof, returned by Windows in
// the enrollment request, that this user of this tenant accepted the
// terms a short while ago. A blob is bound to the tenant and the user's
// object ID of the access token that showed the page.
type Acceptances struct {
	s sealer
	// TTL is how long a blob is accepted after the user accepted.
	TTL time.Duration
	// Now is the clock.
	Now func() time.Time
}

// DefaultBlobTTL: the enrollment follows the acceptance within a minute
// or two (device registration in Entra, then the enrollment request).
const DefaultBlobTTL = 15 * time.Minute

// NewAcceptances returns a minter and checker of OpaqueBlobs under secret
// (at least MinSecretLength bytes; nodes of a cluster share it).
func NewAcceptances(secret []byte) (*Acceptances, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("terms of use secret must be at least %d bytes", MinSecretLength)
	}
	return &Acceptances{s: sealer{secret: secret}, TTL: DefaultBlobTTL, Now: time.Now}, nil
}

// Mint returns the OpaqueBlob of an acceptance by the user objectID of
// tenantID; nonce makes each blob unique.
func (a *Acceptances) Mint(tenantID, objectID, nonce string) (string, error) {
	return a.s.seal(purposeBlob, acceptance{TenantID: tenantID, ObjectID: objectID,
		Expires: a.Now().Add(a.TTL).Unix(), Nonce: nonce})
}

// CheckAcceptance implements enroll.TermsChecker.
func (a *Acceptances) CheckAcceptance(blob, tenantID, objectID string) error {
	var acc acceptance
	if err := a.s.open(purposeBlob, blob, &acc); err != nil {
		return fmt.Errorf("OpaqueBlob %v", err)
	}
	if a.Now().Unix() >= acc.Expires {
		return fmt.Errorf("OpaqueBlob %v at %s", errExpired, time.Unix(acc.Expires, 0).UTC().Format(time.RFC3339))
	}
	if !strings.EqualFold(acc.TenantID, tenantID) || !strings.EqualFold(acc.ObjectID, objectID) {
		return fmt.Errorf("OpaqueBlob was issued to user %s of tenant %s, not to the enrolling user %s of tenant %s",
			acc.ObjectID, acc.TenantID, objectID, tenantID)
	}
	return nil
}
