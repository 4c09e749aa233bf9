package enroll

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// renew handles RequestType Renew. ROBO (Renew On Behalf Of): the device
// presents its current certificate in the TLS handshake and signs the new
// PKCS#10 with it (a PKCS#7 SignedData). Manual renewal: the same request
// with the user's credentials and no TLS certificate. Either way the signer
// must be the certificate this server issued to a live device, unexpired
// (an expired certificate cannot be renewed, P12) and inside its renewal
// window. Every refusal is NotEligibleToRenew (0x80180016) with the reason.
func (s *Service) renew(ctx context.Context, env *soap.Envelope, req *TokenRequest, creds Credentials, ep Endpoints) ([]byte, *Issued, error) {
	refuse := func(cause error, msg string, a ...any) ([]byte, *Issued, error) {
		return nil, nil, soap.NewFault(soap.NotEligibleToRenew, cause, msg, a...)
	}
	sd, err := s.renewalRequest(req.Token)
	if err != nil {
		return nil, nil, err
	}
	signer, err := sd.Signer(creds.PeerCertificates...)
	if err != nil {
		return refuse(err, "The renewal request is not signed by a known certificate.")
	}
	if err := sd.CheckSignature(signer); err != nil {
		return refuse(err, "The renewal request signature does not verify.")
	}
	robo := len(creds.PeerCertificates) > 0
	if robo && !creds.PeerCertificates[0].Equal(signer) {
		return refuse(errors.New("TLS client certificate differs from the PKCS#7 signer"), "The renewal request is not signed by the connection's certificate.")
	}
	// user is who a manual renewal authenticated; it must be the device's.
	var user string
	if !robo {
		// Federated and Entra devices renew with a token, not a user name.
		if s.DisableROBO && creds.Username == "" && creds.Token == nil {
			return refuse(errors.New("no credentials"), "Renewal needs the user's credentials.")
		}
		if user, err = s.Auth.Authenticate(ctx, creds); err != nil {
			return nil, nil, authFault(err)
		}
	} else if s.DisableROBO {
		return refuse(errors.New("ROBO disabled"), "Automatic renewal is disabled on this server; renew with credentials.")
	}

	// The signer must be a live certificate of this server's devices
	// (certauth): looked up first, then checked against the record under
	// the device's lock.
	now := s.Now()
	deviceID, err := s.Certs.Lookup(ctx, []*x509.Certificate{signer})
	switch {
	case errors.Is(err, certauth.ErrExpired):
		return refuse(err, "The certificate expired; an expired certificate cannot be renewed. Enroll the device again.")
	case errors.Is(err, certauth.ErrUnknown):
		return refuse(err, "The certificate belongs to no device of this server.")
	case err != nil:
		return refuse(err, "The certificate was not issued by this server's device CA.")
	}

	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	dev, err := s.Store.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(certauth.NoRecord(signer, deviceID, err), "The certificate belongs to no device of this server.")
	}
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not read the device's record.")
	}
	binding, err := certauth.Check(dev, signer)
	switch {
	case errors.Is(err, certauth.ErrNotLive):
		return refuse(err, "The device is %s; enroll it again.", dev.State)
	case err != nil:
		return refuse(err, "The certificate is not the device's current certificate.")
	}
	if !robo {
		if err := checkManualRenewal(dev, user, binding); err != nil {
			return nil, nil, err
		}
	}
	// A device whose renewal answer was lost renews again with the old one
	// (ROBO only: checkManualRenewal says why).
	retry := binding == certauth.Previous
	if opens := signer.NotAfter.Add(-s.RenewalPeriod); !retry && now.Before(opens) {
		return refuse(fmt.Errorf("renewal window opens %s", opens.Format(time.RFC3339)),
			"The certificate is not due for renewal before %s.", opens.Format(time.RFC3339))
	}

	csr, err := s.checkRequest(sd.Content)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.certify(csr, deviceID, now)
	if err != nil {
		return nil, nil, err
	}
	doc, err := s.renewalDocument(dev, c.cert, c.subject, ep)
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not build the provisioning document.")
	}

	// The certificate the device signed with keeps working until it uses the new one.
	if binding == certauth.Current {
		old := dev.Certificate
		dev.PreviousCertificate = &old
	}
	dev.Certificate = c.record()
	dev.UpdatedAt = now
	if v := req.Context.OSVersion; store.ValidOSVersion(v) && v != dev.OSVersion {
		// The device says which build it runs now (its os: label follows).
		dev.OSVersion = v
	}
	if err := s.indexCertificate(ctx, dev.Certificate.Thumbprint, deviceID); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not record the renewal.")
	}
	if err := s.Store.PutDevice(ctx, dev); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not record the renewal.")
	}
	return tokenResponse(env, doc, now), c.issued(dev, true), nil
}

// renewalRequest checks the PKCS#7 token of a Renew request and parses it.
// Both ValueType spellings in Microsoft's documents are accepted.
func (s *Service) renewalRequest(tok *SecurityToken) (*pkcs7.SignedData, error) {
	if tok == nil {
		return nil, soap.NewFault(soap.MessageFormat, nil, "RequestSecurityToken has no BinarySecurityToken.")
	}
	if tok.ValueType != soap.ValueTypePKCS7 && tok.ValueType != soap.ValueTypePKCS7Secext {
		return nil, soap.NewFault(soap.CertificateRequest, nil, "A renewal carries a PKCS#7 request, not %q.", quote.Bound(tok.ValueType, 120))
	}
	if tok.DecodeErr != nil {
		return nil, soap.NewFault(soap.CertificateRequest, tok.DecodeErr, "The renewal request is not base64.")
	}
	sd, err := pkcs7.Parse(tok.DER)
	if err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The renewal request is not a PKCS#7 SignedData.")
	}
	return sd, nil
}
