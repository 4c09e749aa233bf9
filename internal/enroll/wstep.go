package enroll

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/randtext"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// digestSecretSize is the entropy of a generated digest secret: 192 bits.
const digestSecretSize = 24

// Issued is the outcome of a successful RequestSecurityToken, for logs and
// tests. It holds no secret.
type Issued struct {
	Device      *store.Device
	Certificate *x509.Certificate
	// RequestSubjectCN is the CN the device asked for (never used).
	RequestSubjectCN string
	// CSRDeviceID is the device ID repeated in the CSR extension, if any.
	CSRDeviceID string
	// Renewed is set for a renewal (RequestType Renew).
	Renewed bool
}

// RequestToken handles an MS-WSTEP RequestSecurityToken: Issue
// (authenticate, check the CSR, sign the client certificate, build the
// provisioning document, store the device, answer) or Renew. Nothing is
// stored unless every step before the store succeeded.
func (s *Service) RequestToken(ctx context.Context, env *soap.Envelope, creds Credentials, ep Endpoints) (_ []byte, issued *Issued, err error) {
	defer s.observeToken(time.Now(), env, &issued, &err)
	req, err := ParseTokenRequest(env)
	if err != nil {
		return nil, nil, err
	}
	switch req.RequestType {
	case soap.RequestTypeIssue:
		return s.issue(ctx, env, req, creds, ep)
	case soap.RequestTypeRenew:
		return s.renew(ctx, env, req, creds, ep)
	case soap.RequestTypeRecovery:
		// Recovery re-keys a device whose certificate is gone; this server
		// asks such a device to enroll again instead.
		return nil, nil, soap.NewFault(soap.NotEligibleToRenew, errors.New("recovery requested"),
			"Certificate recovery is not supported; enroll the device again.")
	default:
		return nil, nil, soap.NewFault(soap.MessageFormat, nil, "RequestType %q is not supported.", req.RequestType)
	}
}

// issue handles RequestType Issue: a first enrollment, or a re-enrollment
// that replaces the device's earlier record. A live device enrolled by
// another user is not taken over (MayReEnroll).
func (s *Service) issue(ctx context.Context, env *soap.Envelope, req *TokenRequest, creds Credentials, ep Endpoints) ([]byte, *Issued, error) {
	who, err := s.authenticateIssue(ctx, creds, req)
	if err != nil {
		return nil, nil, err
	}
	user := who.User

	ac := req.Context
	deviceID := ac.DeviceID
	if !store.ValidDeviceID(deviceID) {
		return nil, nil, soap.NewFault(soap.MessageFormat, nil,
			"AdditionalContext DeviceID %q is missing or not a device ID.", quote.Bound(deviceID, 80))
	}
	enrollmentType := store.EnrollmentType(ac.EnrollmentType)
	switch enrollmentType {
	case "":
		enrollmentType = store.EnrollmentFull
	case store.EnrollmentFull, store.EnrollmentDevice:
	default:
		return nil, nil, soap.NewFault(soap.MessageFormat, nil, "EnrollmentType %q: want Full or Device.", quote.Bound(ac.EnrollmentType, 40))
	}

	csr, err := s.checkCSR(req.Token)
	if err != nil {
		return nil, nil, err
	}

	// From the ownership decision to the stored record, the device is
	// locked: nothing is signed or written for a refused request, and no
	// concurrent enrollment slips in between.
	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	now := s.Now()
	if err := s.checkOwnership(ctx, user, deviceID, ac.HWDevID, creds.PeerCertificates); err != nil {
		var oe *OwnershipError
		if errors.As(err, &oe) {
			return nil, nil, soap.NewFault(soap.Authorization, err,
				"This device is enrolled by another user; an administrator must retire it before it can be enrolled again.")
		}
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not read the device's enrollment.")
	}

	c, err := s.certify(csr, deviceID, now)
	if err != nil {
		return nil, nil, err
	}
	dev := &store.Device{
		DeviceID:           deviceID,
		HWDevID:            ac.HWDevID,
		DeviceName:         ac.DeviceName,
		DeviceType:         ac.DeviceType,
		OSVersion:          ac.OSVersion,
		OSEdition:          ac.OSEdition,
		ApplicationVersion: ac.ApplicationVersion,
		Locale:             ac.Locale,
		MACs:               ac.MACs,
		EnrollmentType:     enrollmentType,
		WindowsPhone8:      s.isWindowsPhone8(ac),
		User:               user,
		EntraTenantID:      who.TenantID,
		EntraObjectID:      who.ObjectID,
		AuthPolicy:         s.Auth.Policy(),
		State:              store.StateEnrolled,
		EnrolledAt:         now,
		UpdatedAt:          now,
		Certificate:        c.record(),
	}
	if dev.Digest, err = s.newDigestSecrets(deviceID); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not create credentials.")
	}
	doc, err := s.provisioningDocument(dev, c.cert, c.subject, ep)
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not build the provisioning document.")
	}
	if err := s.record(ctx, dev, now); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not record the enrollment.")
	}
	return tokenResponse(env, doc, now), c.issued(dev, false), nil
}

// certified is a device certificate signed for a checked request.
type certified struct {
	csr     *pkcs10.Request
	subject issuer.Subject
	cert    *x509.Certificate
}

// certify signs the client certificate of a checked request for deviceID,
// with the subject the server chooses (SubjectCommonName, never the CSR's):
// the steps issue and renew share. A failure is an EnrollmentServer fault.
func (s *Service) certify(csr *pkcs10.Request, deviceID string, now time.Time) (*certified, error) {
	subject, err := issuer.NewSubject(SubjectCommonName(deviceID))
	if err != nil {
		return nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not choose a certificate subject.")
	}
	cert, err := s.Issuer.Issue(csr, subject, now)
	if err != nil {
		return nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not sign the certificate.")
	}
	return &certified{csr: csr, subject: subject, cert: cert}, nil
}

// record is the certificate as the device's record keeps it.
func (c *certified) record() store.Certificate {
	return store.Certificate{
		Serial:     issuer.SerialHex(c.cert),
		Thumbprint: issuer.Thumbprint(c.cert),
		Subject:    c.subject.String(),
		NotBefore:  c.cert.NotBefore,
		NotAfter:   c.cert.NotAfter,
	}
}

// issued is the outcome for logs and tests.
func (c *certified) issued(dev *store.Device, renewed bool) *Issued {
	return &Issued{
		Device:           dev,
		Certificate:      c.cert,
		RequestSubjectCN: string(c.csr.SubjectCN),
		CSRDeviceID:      c.csr.DeviceIDHint(),
		Renewed:          renewed,
	}
}

// checkCSR checks the PKCS#10 token of an Issue request: its ValueType,
// its encoding, then the request itself (checkRequest).
func (s *Service) checkCSR(tok *SecurityToken) (*pkcs10.Request, error) {
	if tok == nil {
		return nil, soap.NewFault(soap.MessageFormat, nil, "RequestSecurityToken has no BinarySecurityToken.")
	}
	if tok.ValueType != soap.ValueTypePKCS10 {
		return nil, soap.NewFault(soap.CertificateRequest, nil, "BinarySecurityToken ValueType %q is not PKCS10.", quote.Bound(tok.ValueType, 120))
	}
	if tok.DecodeErr != nil {
		return nil, soap.NewFault(soap.CertificateRequest, tok.DecodeErr, "The certificate request is not base64.")
	}
	return s.checkRequest(tok.DER)
}

// checkRequest parses a PKCS#10 request within its size bounds, applies the
// key policy, then verifies the signature: the key is judged first, so an
// oversized key costs no verification and a small one is refused for what
// it is. Every refusal is a CertificateRequest fault with the reason.
func (s *Service) checkRequest(der []byte) (*pkcs10.Request, error) {
	csr, err := pkcs10.Parse(der)
	var se *pkcs10.SizeError
	if errors.As(err, &se) {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The %v.", err)
	}
	if err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The certificate request is not a PKCS#10 request.")
	}
	if err := csr.CheckKey(s.MinKeyLength); err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The certificate request key is not accepted: %v.", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The certificate request signature does not verify.")
	}
	return csr, nil
}

// SubjectCommonName chooses the client certificate's CN for a device: its
// device ID when that is a PrintableString (Windows IDs are hex), otherwise a
// hex digest of it. Never the CSR's subject (P5).
func SubjectCommonName(deviceID string) string {
	if issuer.IsPrintableString(deviceID) && len(deviceID) <= 64 {
		return deviceID
	}
	sum := sha256.Sum256([]byte(deviceID))
	return strings.ToUpper(hex.EncodeToString(sum[:16]))
}

// isWindowsPhone8 decides the document flavour from the device's hints:
// a DeviceType naming a phone, or an ApplicationVersion of 8.x (Windows 8.1
// desktop reports 6.3, Windows 10 reports 10.0).
func (s *Service) isWindowsPhone8(ac AdditionalContext) bool {
	switch s.WP8 {
	case WP8Always:
		return true
	case WP8Never:
		return false
	}
	major, _, _ := strings.Cut(strings.TrimSpace(ac.ApplicationVersion), ".")
	if n, err := strconv.Atoi(major); err == nil && n >= 10 {
		// Windows 10 Mobile also says DeviceType WindowsPhone (Microsoft's
		// on-premise example sends it with ApplicationVersion 10.0.0.0):
		// it takes a Windows 10 document.
		return false
	}
	if strings.Contains(strings.ToLower(ac.DeviceType), "phone") {
		return true
	}
	return major == "8"
}

func (s *Service) newDigestSecrets(deviceID string) (store.DigestSecrets, error) {
	var d store.DigestSecrets
	var err error
	if d.ClientSecret, err = randtext.Secret(s.Rand, digestSecretSize); err != nil {
		return d, err
	}
	if d.ServerSecret, err = randtext.Secret(s.Rand, digestSecretSize); err != nil {
		return d, err
	}
	if d.ClientNonce, err = randtext.Nonce(s.Rand); err != nil {
		return d, err
	}
	if d.ServerNonce, err = randtext.Nonce(s.Rand); err != nil {
		return d, err
	}
	d.ServerName = deviceID
	return d, nil
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
}
