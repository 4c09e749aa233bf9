package enroll

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
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
func (s *Service) renew(ctx context.Context, env *soap.Envelope, creds Credentials, ep Endpoints) ([]byte, *Issued, error) {
	refuse := func(cause error, msg string, a ...any) ([]byte, *Issued, error) {
		return nil, nil, soap.NewFault(soap.NotEligibleToRenew, cause, msg, a...)
	}
	sd, err := s.renewalRequest(env.Body)
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
	if !robo {
		if s.DisableROBO && creds.Username == "" {
			return refuse(errors.New("no credentials"), "Renewal needs the user's credentials.")
		}
		if _, err := s.Auth.Authenticate(ctx, creds); err != nil {
			return nil, nil, authFault(err)
		}
	} else if s.DisableROBO {
		return refuse(errors.New("ROBO disabled"), "Automatic renewal is disabled on this server; renew with credentials.")
	}

	now := s.Now()
	if now.After(signer.NotAfter) {
		return refuse(fmt.Errorf("certificate expired %s", signer.NotAfter.Format(time.RFC3339)),
			"The certificate expired; an expired certificate cannot be renewed. Enroll the device again.")
	}
	if err := s.verifyIssued(signer, now); err != nil {
		return refuse(err, "The certificate was not issued by this server's device CA.")
	}
	thumb := issuer.Thumbprint(signer)
	deviceID, err := s.Store.DeviceByCertificate(ctx, thumb)
	if err != nil {
		return refuse(err, "The certificate belongs to no device of this server.")
	}

	unlock := s.Store.LockDevice(deviceID)
	defer unlock()
	dev, err := s.Store.Device(ctx, deviceID)
	if err != nil {
		return refuse(err, "The certificate belongs to no device of this server.")
	}
	if dev.State != store.StateEnrolled {
		return refuse(fmt.Errorf("device %s is %s", deviceID, dev.State), "The device is %s; enroll it again.", dev.State)
	}
	current := dev.Certificate.Thumbprint == thumb
	// A device whose renewal answer was lost renews again with the old one.
	retry := dev.PreviousCertificate != nil && dev.PreviousCertificate.Thumbprint == thumb
	if !current && !retry {
		return refuse(fmt.Errorf("certificate %s is not device %s's current certificate", thumb, deviceID),
			"The certificate is no longer the device's certificate.")
	}
	if opens := signer.NotAfter.Add(-s.RenewalPeriod); !retry && now.Before(opens) {
		return refuse(fmt.Errorf("renewal window opens %s", opens.Format(time.RFC3339)),
			"The certificate is not due for renewal before %s.", opens.Format(time.RFC3339))
	}

	csr, err := s.checkRequest(sd.Content)
	if err != nil {
		return nil, nil, err
	}
	subject, err := issuer.NewSubject(SubjectCommonName(deviceID))
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not choose a certificate subject.")
	}
	cert, err := s.Issuer.Issue(csr, subject, now)
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not sign the certificate.")
	}
	doc, err := s.renewalDocument(dev, cert, subject, ep)
	if err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not build the provisioning document.")
	}

	// The certificate the device signed with keeps working until it uses the new one.
	if current {
		old := dev.Certificate
		dev.PreviousCertificate = &old
	}
	dev.Certificate = store.Certificate{
		Serial: issuer.SerialHex(cert), Thumbprint: issuer.Thumbprint(cert), Subject: subject.String(),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
	}
	dev.UpdatedAt = now
	if err := s.Store.IndexCertificate(ctx, dev.Certificate.Thumbprint, deviceID); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not record the renewal.")
	}
	if err := s.Store.PutDevice(ctx, dev); err != nil {
		return nil, nil, soap.NewFault(soap.EnrollmentServer, err, "The server could not record the renewal.")
	}
	return tokenResponse(env, doc, now), &Issued{
		Device: dev, Certificate: cert, RequestSubjectCN: string(csr.SubjectCN), CSRDeviceID: csr.DeviceIDHint(), Renewed: true,
	}, nil
}

// renewalRequest decodes the PKCS#7 of a Renew request. Both ValueType
// spellings in Microsoft's documents are accepted.
func (s *Service) renewalRequest(rst *etree.Element) (*pkcs7.SignedData, error) {
	bst := soap.Child(rst, "BinarySecurityToken")
	if bst == nil {
		return nil, soap.NewFault(soap.MessageFormat, nil, "RequestSecurityToken has no BinarySecurityToken.")
	}
	tok := soap.ReadBinaryToken(bst)
	if tok.ValueType != soap.ValueTypePKCS7 && tok.ValueType != soap.ValueTypePKCS7Secext {
		return nil, soap.NewFault(soap.CertificateRequest, nil, "A renewal carries a PKCS#7 request, not %q.", truncate(tok.ValueType, 120))
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(tok.Value))
	if err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The renewal request is not base64.")
	}
	sd, err := pkcs7.Parse(der)
	if err != nil {
		return nil, soap.NewFault(soap.CertificateRequest, err, "The renewal request is not a PKCS#7 SignedData.")
	}
	return sd, nil
}

// verifyIssued checks that a certificate chains to the device CA for client
// authentication.
func (s *Service) verifyIssued(c *x509.Certificate, now time.Time) error {
	ca := s.Issuer.CA
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	inter := x509.NewCertPool()
	for _, ic := range ca.Intermediates {
		inter.AddCert(ic)
	}
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// liveDeviceHolding returns the enrolled device whose current certificate
// (or, during a renewal overlap, previous one) c is, once c chains to the
// device CA and has not expired.
func (s *Service) liveDeviceHolding(ctx context.Context, c *x509.Certificate) (*store.Device, error) {
	if err := s.verifyIssued(c, s.Now()); err != nil {
		return nil, err
	}
	thumb := issuer.Thumbprint(c)
	id, err := s.Store.DeviceByCertificate(ctx, thumb)
	if err != nil {
		return nil, err
	}
	dev, err := s.Store.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	if dev.State != store.StateEnrolled || !holdsCertificate(dev, thumb) {
		return nil, fmt.Errorf("certificate %s is not a live certificate of device %s", thumb, id)
	}
	return dev, nil
}
