package provdoc

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Flavour selects the dialect of the document.
type Flavour int

const (
	// Windows10 is for Windows 10 and 11 (and 8.1 desktop).
	Windows10 Flavour = iota
	// WindowsPhone8 adds the OmaDmRetry registry values and company hub nodes
	// that Windows Phone 8 needs.
	WindowsPhone8
)

// Document holds the values of one device's provisioning document.
type Document struct {
	Flavour Flavour
	// DeviceEnrollment selects the machine store (My/System, enrollment type
	// Device) instead of the user store (My/User, type Full).
	DeviceEnrollment bool

	Root          *x509.Certificate
	Intermediates []*x509.Certificate
	Client        *x509.Certificate
	// ClientSubject is the issued certificate's subject as Windows writes it,
	// "CN=...", used in the certificate search criteria.
	ClientSubject string

	ProviderID string
	// Name is the display name of the management account.
	Name string
	// ServerURL is the OMA-DM address (ADDR).
	ServerURL string
	Retry     Retry

	// ClientAuth: credentials the server presents to the device
	// (AAUTHLEVEL CLIENT).
	ClientAuth Digest
	// ServerAuth: credentials the device presents to the server
	// (AAUTHLEVEL APPSRV).
	ServerAuth Digest

	// EntDMID is the enterprise device ID; renewal never starts without it.
	EntDMID string
	Poll    Poll

	// Renewal, when set, advertises WSTEP certificate renewal.
	Renewal *Renewal

	// Windows Phone 8 only.
	OmaDmRetry    OmaDmRetry
	EnterpriseApp *EnterpriseApp
}

// Retry is the w7 APPLICATION connection retry policy.
type Retry struct {
	// ConnRetryFreq is how many times a failed connection is retried.
	ConnRetryFreq int
	// InitialBackoffMS and MaxBackoffMS bound the wait between retries.
	InitialBackoffMS, MaxBackoffMS int
}

// Digest is one APPAUTH entry of type DIGEST.
type Digest struct {
	// Name is AAUTHNAME; the CLIENT entry has none (its name is the provider ID).
	Name   string
	Secret string
	// Nonce is the base64 AAUTHDATA: 16 random bytes (P14).
	Nonce string
}

// Poll is the DMClient poll schedule; intervals are in minutes.
type Poll struct {
	IntervalForFirstSetOfRetries         int
	NumberOfFirstRetries                 int
	IntervalForSecondSetOfRetries        int
	NumberOfSecondRetries                int
	IntervalForRemainingScheduledRetries int
	// NumberOfRemainingScheduledRetries of 0 means forever.
	NumberOfRemainingScheduledRetries int
	PollOnLogin                       bool
}

// Renewal advertises MS-WSTEP renewal in CertificateStore/My/WSTEP/Renew.
type Renewal struct {
	ROBOSupport bool
	// RenewPeriodDays is how many days before expiry renewal starts.
	RenewPeriodDays int
	// RetryIntervalDays is the wait between failed renewal attempts.
	RetryIntervalDays int
	ServerURL         string
}

// OmaDmRetry is HKLM\Security\MachineEnrollment\OmaDmRetry (Windows Phone 8).
// Aux* must be > 0 or the first session never happens (P9).
type OmaDmRetry struct {
	NumRetries, RetryInterval         int
	AuxNumRetries, AuxRetryInterval   int
	Aux2NumRetries, Aux2RetryInterval int
}

// EnterpriseApp is the Windows Phone 8 company hub enrollment
// (EnterpriseAppManagement). Its values must equal the .aetx file's (P10).
type EnterpriseApp struct {
	EnterpriseID     string
	EnrollmentToken  string
	StoreProductID   string
	StoreURI         string
	StoreDisplayName string
	// CRLCheck asks the device to check revocation of the hub download's
	// certificate; off where the CA's CRL is unreachable.
	CRLCheck bool
}

// Validate refuses a document Windows would reject or misuse.
func (d *Document) Validate() error {
	var errs []error
	if d.Root == nil || d.Client == nil {
		errs = append(errs, errors.New("root and client certificates are required"))
	}
	if d.ProviderID == "" || d.ServerURL == "" || d.EntDMID == "" {
		errs = append(errs, errors.New("provider ID, server URL and EntDMID are required"))
	}
	if strings.ContainsRune(d.ClientSubject, 0) || d.ClientSubject == "" {
		errs = append(errs, errors.New("client subject must be set and hold no NUL"))
	}
	if d.ClientAuth.Secret == "" || d.ServerAuth.Secret == "" || d.ServerAuth.Name == "" {
		errs = append(errs, errors.New("both APPAUTH entries need their secrets (P8)"))
	}
	for _, n := range []string{d.ClientAuth.Nonce, d.ServerAuth.Nonce} {
		if b, err := base64.StdEncoding.DecodeString(n); err != nil || len(b) != 16 {
			errs = append(errs, errors.New("APPAUTH nonces must be 16 bytes, base64 (P14)"))
			break
		}
	}
	if d.Flavour == WindowsPhone8 && (d.OmaDmRetry.AuxNumRetries <= 0 || d.OmaDmRetry.AuxRetryInterval <= 0) {
		errs = append(errs, errors.New("OmaDmRetry AuxNumRetries and AuxRetryInterval must be > 0 (P9)"))
	}
	if a := d.EnterpriseApp; a != nil && (a.EnterpriseID == "" || a.EnrollmentToken == "") {
		errs = append(errs, errors.New("EnterpriseAppManagement needs an Enterprise ID and an enrollment token (P10)"))
	}
	return errors.Join(errs...)
}

// Bytes writes the document.
func (d *Document) Bytes() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("provisioning document: %w", err)
	}
	doc := etree.NewDocument()
	root := doc.CreateElement("wap-provisioningdoc")
	root.CreateAttr("version", "1.1")
	d.certificateStore(root)
	d.application(root)
	d.dmClient(root)
	if d.Flavour == WindowsPhone8 {
		d.registry(root)
		if d.EnterpriseApp != nil {
			d.enterpriseApp(root)
		}
	}
	return doc.WriteToBytes()
}

// RenewalBytes writes the document answering a certificate renewal: the new
// client certificate in the same store, the renewal settings, and the
// APPLICATION's identity and search criteria so Windows binds the new
// certificate to its OMA-DM account. The digest credentials stay as they were.
func (d *Document) RenewalBytes() ([]byte, error) {
	switch {
	case d.Root == nil || d.Client == nil:
		return nil, errors.New("renewal document: root and client certificates are required")
	case d.ProviderID == "" || d.EntDMID == "":
		return nil, errors.New("renewal document: provider ID and EntDMID are required")
	case d.ClientSubject == "" || strings.ContainsRune(d.ClientSubject, 0):
		return nil, errors.New("renewal document: client subject must be set and hold no NUL")
	}
	doc := etree.NewDocument()
	root := doc.CreateElement("wap-provisioningdoc")
	root.CreateAttr("version", "1.1")
	d.certificateStore(root)
	app := characteristic(root, "APPLICATION")
	parm(app, "APPID", "w7")
	parm(app, "PROVIDER-ID", d.ProviderID)
	parm(app, "SSLCLIENTCERTSEARCHCRITERIA", SearchCriteria(d.ClientSubject, d.ClientStore()))
	prov := characteristic(characteristic(characteristic(root, "DMClient"), "Provider"), d.ProviderID)
	typedParm(prov, "EntDMID", d.EntDMID, "string")
	return doc.WriteToBytes()
}

// ClientStore is the store path of the client certificate: My\User for a
// user (Full) enrollment, My\System for a device enrollment.
func (d *Document) ClientStore() string {
	if d.DeviceEnrollment {
		return `My\System`
	}
	return `My\User`
}

// SearchCriteria is SSLCLIENTCERTSEARCHCRITERIA (P7): the subject and the
// store, each percent-encoded. The XML writer escapes the '&' once more.
func SearchCriteria(subject, store string) string {
	return "Subject=" + PercentEncode(subject) + "&Stores=" + PercentEncode(store)
}

// PercentEncode escapes every byte outside RFC 3986's unreserved set, in
// upper-case hex (so ',' and '=' and '\' are always encoded, ' ' is %20).
func PercentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func characteristic(parent *etree.Element, typ string) *etree.Element {
	c := parent.CreateElement("characteristic")
	c.CreateAttr("type", typ)
	return c
}

func parm(parent *etree.Element, name, value string) *etree.Element {
	p := parent.CreateElement("parm")
	p.CreateAttr("name", name)
	p.CreateAttr("value", value)
	return p
}

func typedParm(parent *etree.Element, name, value, datatype string) {
	parm(parent, name, value).CreateAttr("datatype", datatype)
}

func intParm(parent *etree.Element, name string, v int) {
	typedParm(parent, name, strconv.Itoa(v), "integer")
}
