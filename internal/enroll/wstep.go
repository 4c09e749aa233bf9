package enroll

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

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
func (s *Service) RequestToken(ctx context.Context, env *soap.Envelope, creds Credentials, ep Endpoints) ([]byte, *Issued, error) {
	if env.Action != soap.ActionRequestToken || env.Body.Tag != "RequestSecurityToken" {
		return nil, nil, soap.NewFault(soap.MessageFormat, nil,
			"Unexpected action %q for the enrollment service.", env.Action)
	}
	rst := env.Body
	if tt := soap.Text(soap.Child(rst, "TokenType")); tt != soap.TokenTypeDeviceEnroll {
		return nil, nil, soap.NewFault(soap.MessageFormat, nil, "TokenType %q is not DeviceEnrollmentToken.", tt)
	}
	switch rt := soap.Text(soap.Child(rst, "RequestType")); rt {
	case soap.RequestTypeIssue:
		return s.issue(ctx, env, creds, ep)
	case soap.RequestTypeRenew:
		return s.renew(ctx, env, creds, ep)
	case soap.RequestTypeRecovery:
		// Recovery re-keys a device whose certificate is gone; this server
		// asks such a device to enroll again instead.
		return nil, nil, soap.NewFault(soap.NotEligibleToRenew, errors.New("recovery requested"),
			"Certificate recovery is not supported; enroll the device again.")
	default:
		return nil, nil, soap.NewFault(soap.MessageFormat, nil, "RequestType %q is not supported.", rt)
	}
}

// issue handles RequestType Issue: a first enrollment, or a re-enrollment
// that replaces the device's earlier record. A live device enrolled by
// another user is not taken over (MayReEnroll).
func (s *Service) issue(ctx context.Context, env *soap.Envelope, creds Credentials, ep Endpoints) ([]byte, *Issued, error) {
	rst := env.Body
	user, err := s.Auth.Authenticate(ctx, creds)
	if err != nil {
		return nil, nil, authFault(err)
	}

	ac := parseAdditionalContext(soap.Child(rst, "AdditionalContext"))
	deviceID := ac.Get("DeviceID")
	if !store.ValidDeviceID(deviceID) {
		return nil, nil, soap.NewFault(soap.MessageFormat, nil,
			"AdditionalContext DeviceID %q is missing or not a device ID.", truncate(deviceID, 80))
	}
	enrollmentType := ac.Get("EnrollmentType")
	switch enrollmentType {
	case "":
		enrollmentType = "Full"
	case "Full", "Device":
	default:
		return nil, nil, soap.NewFault(soap.MessageFormat, nil, "EnrollmentType %q: want Full or Device.", truncate(enrollmentType, 40))
	}

	csr, err := s.checkCSR(soap.Child(rst, "BinarySecurityToken"))
	if err != nil {
		return nil, nil, err
	}

	// From the ownership decision to the stored record, the device is
	// locked: nothing is signed or written for a refused request, and no
	// concurrent enrollment slips in between.
	unlock := s.Store.LockDevice(deviceID)
	defer unlock()
	now := s.Now()
	hwDevID := ac.Get("HWDevID")
	if err := s.checkOwnership(ctx, user, deviceID, hwDevID, creds.PeerCertificates, now); err != nil {
		var oe *OwnershipError
		if errors.As(err, &oe) {
			return nil, nil, soap.NewFault(soap.Authorization, err,
				"This device is enrolled by another user; an administrator must retire it before it can be enrolled again.")
		}
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not read the device's enrollment.")
	}

	subject, err := issuer.NewSubject(SubjectCommonName(deviceID))
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not choose a certificate subject.")
	}
	cert, err := s.Issuer.Issue(csr, subject, now)
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not sign the certificate.")
	}

	dev := &store.Device{
		DeviceID:           deviceID,
		HWDevID:            hwDevID,
		DeviceName:         ac.Get("DeviceName"),
		DeviceType:         ac.Get("DeviceType"),
		OSVersion:          ac.Get("OSVersion"),
		OSEdition:          ac.Get("OSEdition"),
		ApplicationVersion: ac.Get("ApplicationVersion"),
		Locale:             ac.Get("Locale"),
		MACs:               ac["MAC"],
		EnrollmentType:     enrollmentType,
		WindowsPhone8:      s.isWindowsPhone8(ac),
		User:               user,
		AuthPolicy:         s.Auth.Policy(),
		State:              store.StateEnrolled,
		EnrolledAt:         now,
		UpdatedAt:          now,
		Certificate: store.Certificate{
			Serial:     issuer.SerialHex(cert),
			Thumbprint: issuer.Thumbprint(cert),
			Subject:    subject.String(),
			NotBefore:  cert.NotBefore,
			NotAfter:   cert.NotAfter,
		},
	}
	if dev.Digest, err = s.newDigestSecrets(deviceID); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not create credentials.")
	}
	doc, err := s.provisioningDocument(dev, cert, subject, ep)
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not build the provisioning document.")
	}
	if err := s.record(ctx, dev, now); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not record the enrollment.")
	}

	return tokenResponse(env, doc, now), &Issued{
		Device:           dev,
		Certificate:      cert,
		RequestSubjectCN: string(csr.SubjectCN),
		CSRDeviceID:      csr.DeviceIDHint(),
	}, nil
}

// checkCSR decodes, parses and verifies the PKCS#10 of the request body.
func (s *Service) checkCSR(bst *etree.Element) (*pkcs10.Request, error) {
	if bst == nil {
		return nil, soap.NewFault(soap.MessageFormat, nil, "RequestSecurityToken has no BinarySecurityToken.")
	}
	tok := soap.ReadBinaryToken(bst)
	if tok.ValueType != soap.ValueTypePKCS10 {
		return nil, soap.NewFault(soap.CertificateRequest, nil, "BinarySecurityToken ValueType %q is not PKCS10.", truncate(tok.ValueType, 120))
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(tok.Value))
	if err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The certificate request is not base64.")
	}
	return s.checkRequest(der)
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
	if strings.Contains(strings.ToLower(ac.Get("DeviceType")), "phone") {
		return true
	}
	major, _, _ := strings.Cut(ac.Get("ApplicationVersion"), ".")
	return major == "8"
}

func (s *Service) newDigestSecrets(deviceID string) (store.DigestSecrets, error) {
	var d store.DigestSecrets
	var err error
	if d.ClientSecret, err = randomSecret(s.Rand); err != nil {
		return d, err
	}
	if d.ServerSecret, err = randomSecret(s.Rand); err != nil {
		return d, err
	}
	if d.ClientNonce, err = randomNonce(s.Rand); err != nil {
		return d, err
	}
	if d.ServerNonce, err = randomNonce(s.Rand); err != nil {
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

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
