package enroll

import (
	"crypto/x509"
	"encoding/base64"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// baseDocument holds what every document of a device carries: the
// certificates, the identity of the account, EntDMID and renewal.
func (s *Service) baseDocument(dev *store.Device, cert *x509.Certificate, subject issuer.Subject, ep Endpoints) *provdoc.Document {
	ca := s.Issuer.CA
	return &provdoc.Document{
		Flavour:          provdoc.Windows10,
		DeviceEnrollment: dev.EnrollmentType == store.EnrollmentDevice,
		Root:             ca.Root,
		Intermediates:    ca.Intermediates,
		Client:           cert,
		ClientSubject:    subject.String(),
		ProviderID:       s.ProviderID,
		EntDMID:          dev.DeviceID,
		Renewal:          s.renewal(ep),
	}
}

// provisioningDocument is the enrollment answer: everything the device
// needs to be managed.
func (s *Service) provisioningDocument(dev *store.Device, cert *x509.Certificate, subject issuer.Subject, ep Endpoints) ([]byte, error) {
	d := s.baseDocument(dev, cert, subject, ep)
	d.Name = s.DisplayName
	d.ServerURL = ep.Management
	d.Retry = s.Retry
	d.ClientAuth = provdoc.Digest{Secret: dev.Digest.ClientSecret, Nonce: dev.Digest.ClientNonce}
	d.ServerAuth = provdoc.Digest{Name: dev.Digest.ServerName, Secret: dev.Digest.ServerSecret, Nonce: dev.Digest.ServerNonce}
	d.Poll = s.Poll
	if dev.WindowsPhone8 {
		d.Flavour = provdoc.WindowsPhone8
		d.OmaDmRetry = s.OmaDmRetry
		d.EnterpriseApp = s.EnterpriseApp
	}
	return d.Bytes()
}

// tokenResponse wraps the provisioning document in a
// RequestSecurityTokenResponseCollection.
func tokenResponse(req *soap.Envelope, doc []byte, now time.Time) []byte {
	r := soap.NewResponse(soap.ActionRequestTokenResp, req)
	r.AddTimestamp(now, 5*time.Minute)
	coll := r.Body.CreateElement("RequestSecurityTokenResponseCollection")
	coll.CreateAttr("xmlns", soap.NSTrust)
	rstr := coll.CreateElement("RequestSecurityTokenResponse")
	rstr.CreateElement("TokenType").SetText(soap.TokenTypeDeviceEnroll)
	rstr.CreateElement("DispositionMessage").CreateAttr("xmlns", soap.NSEnrollment)
	bst := rstr.CreateElement("RequestedSecurityToken").CreateElement("BinarySecurityToken")
	bst.CreateAttr("ValueType", soap.ValueTypeProvisionDoc)
	bst.CreateAttr("EncodingType", soap.EncodingTypeBase64Binary)
	bst.CreateAttr("xmlns", soap.NSSecurity)
	bst.SetText(base64.StdEncoding.EncodeToString(doc))
	id := rstr.CreateElement("RequestID")
	id.CreateAttr("xmlns", soap.NSEnrollment)
	id.SetText("0")
	return r.Bytes()
}

// renewal is what the document says of certificate renewal (P12). The
// ServerURL is the Discovery URL: MS-MDE2 has a device without one use "the
// initial discovery URL from enrollment", and the CertificateStore CSP page
// says renewal starts with Discovery, then the policy and enrollment
// services (every endpoint answers every one of those messages anyway).
func (s *Service) renewal(ep Endpoints) *provdoc.Renewal {
	return &provdoc.Renewal{
		ROBOSupport:       !s.DisableROBO,
		RenewPeriodDays:   int(s.RenewalPeriod / (24 * time.Hour)),
		RetryIntervalDays: int(s.RenewRetryInterval / (24 * time.Hour)),
		ServerURL:         ep.Discovery,
	}
}

// renewalDocument is the answer to a renewal: the new certificate for the
// same account.
func (s *Service) renewalDocument(dev *store.Device, cert *x509.Certificate, subject issuer.Subject, ep Endpoints) ([]byte, error) {
	return s.baseDocument(dev, cert, subject, ep).RenewalBytes()
}
