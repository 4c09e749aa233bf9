package provdoc

import (
	"crypto/x509"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
)

func encodedCertificate(parent *etree.Element, c *x509.Certificate) *etree.Element {
	node := characteristic(parent, issuer.Thumbprint(c))
	parm(node, "EncodedCertificate", base64.StdEncoding.EncodeToString(c.Raw))
	return node
}

// certificateStore installs the root (Root/System), any intermediates
// (CA/System), and the client certificate with its private key container in
// My/User or My/System, plus the renewal settings when renewal is on.
func (d *Document) certificateStore(root *etree.Element) {
	cs := characteristic(root, "CertificateStore")
	encodedCertificate(characteristic(characteristic(cs, "Root"), "System"), d.Root)
	if len(d.Intermediates) > 0 {
		sys := characteristic(characteristic(cs, "CA"), "System")
		for _, c := range d.Intermediates {
			encodedCertificate(sys, c)
		}
	}
	my := characteristic(cs, "My")
	store := characteristic(my, strings.TrimPrefix(d.ClientStore(), `My\`))
	encodedCertificate(store, d.Client)
	characteristic(store, "PrivateKeyContainer")
	if r := d.Renewal; r != nil {
		renew := characteristic(characteristic(my, "WSTEP"), "Renew")
		typedParm(renew, "ROBOSupport", strconv.FormatBool(r.ROBOSupport), "boolean")
		intParm(renew, "RenewPeriod", r.RenewPeriodDays)
		intParm(renew, "RetryInterval", r.RetryIntervalDays)
		typedParm(renew, "ServerURL", r.ServerURL, "string")
	}
}

// application is the w7 APPLICATION: the OMA-DM account.
func (d *Document) application(root *etree.Element) {
	app := characteristic(root, "APPLICATION")
	parm(app, "APPID", "w7")
	parm(app, "PROVIDER-ID", d.ProviderID)
	parm(app, "NAME", d.Name)
	parm(app, "ADDR", d.ServerURL)
	parm(app, "CONNRETRYFREQ", strconv.Itoa(d.Retry.ConnRetryFreq))
	parm(app, "INITIALBACKOFFTIME", strconv.Itoa(d.Retry.InitialBackoffMS))
	parm(app, "MAXBACKOFFTIME", strconv.Itoa(d.Retry.MaxBackoffMS))
	app.CreateElement("parm").CreateAttr("name", "BACKCOMPATRETRYDISABLED")
	parm(app, "DEFAULTENCODING", "application/vnd.syncml.dm+xml")
	parm(app, "SSLCLIENTCERTSEARCHCRITERIA", SearchCriteria(d.ClientSubject, d.ClientStore()))
	client := characteristic(app, "APPAUTH")
	parm(client, "AAUTHLEVEL", "CLIENT")
	parm(client, "AAUTHTYPE", "DIGEST")
	parm(client, "AAUTHSECRET", d.ClientAuth.Secret)
	parm(client, "AAUTHDATA", d.ClientAuth.Nonce)
	srv := characteristic(app, "APPAUTH")
	parm(srv, "AAUTHLEVEL", "APPSRV")
	parm(srv, "AAUTHTYPE", "DIGEST")
	parm(srv, "AAUTHNAME", d.ServerAuth.Name)
	parm(srv, "AAUTHSECRET", d.ServerAuth.Secret)
	parm(srv, "AAUTHDATA", d.ServerAuth.Nonce)
}

// dmClient sets EntDMID (P12) and, on Windows 10/11, the poll schedule.
// Windows Phone 8 polls by its OmaDmRetry registry values instead.
func (d *Document) dmClient(root *etree.Element) {
	prov := characteristic(characteristic(characteristic(root, "DMClient"), "Provider"), d.ProviderID)
	typedParm(prov, "EntDMID", d.EntDMID, "string")
	if d.Flavour == WindowsPhone8 {
		return
	}
	poll := characteristic(prov, "Poll")
	p := d.Poll
	intParm(poll, "IntervalForFirstSetOfRetries", p.IntervalForFirstSetOfRetries)
	intParm(poll, "NumberOfFirstRetries", p.NumberOfFirstRetries)
	intParm(poll, "IntervalForSecondSetOfRetries", p.IntervalForSecondSetOfRetries)
	intParm(poll, "NumberOfSecondRetries", p.NumberOfSecondRetries)
	intParm(poll, "IntervalForRemainingScheduledRetries", p.IntervalForRemainingScheduledRetries)
	intParm(poll, "NumberOfRemainingScheduledRetries", p.NumberOfRemainingScheduledRetries)
	typedParm(poll, "PollOnLogin", strconv.FormatBool(p.PollOnLogin), "boolean")
}

// registry writes the Windows Phone 8 OmaDmRetry schedule (P9).
func (d *Document) registry(root *etree.Element) {
	r := characteristic(characteristic(root, "Registry"), `HKLM\Security\MachineEnrollment\OmaDmRetry`)
	o := d.OmaDmRetry
	intParm(r, "NumRetries", o.NumRetries)
	intParm(r, "RetryInterval", o.RetryInterval)
	intParm(r, "AuxNumRetries", o.AuxNumRetries)
	intParm(r, "AuxRetryInterval", o.AuxRetryInterval)
	intParm(r, "Aux2NumRetries", o.Aux2NumRetries)
	intParm(r, "Aux2RetryInterval", o.Aux2RetryInterval)
}

// enterpriseApp enrolls the device for company apps (P10): the first node is
// the Enterprise ID, and the hub download finds the client certificate by the
// same subject as the OMA-DM connection (P11).
func (d *Document) enterpriseApp(root *etree.Element) {
	a := d.EnterpriseApp
	node := characteristic(characteristic(root, "EnterpriseAppManagement"), a.EnterpriseID)
	parm(node, "EnrollmentToken", a.EnrollmentToken)
	if a.StoreProductID != "" {
		parm(node, "StoreProductId", a.StoreProductID)
	}
	if a.StoreURI != "" {
		parm(node, "StoreUri", a.StoreURI)
	}
	if a.StoreDisplayName != "" {
		parm(node, "StoreDisplayName", a.StoreDisplayName)
	}
	parm(node, "CertificateSearchCriteria", SearchCriteria(d.ClientSubject, d.ClientStore()))
	crl := "0"
	if a.CRLCheck {
		crl = "1"
	}
	parm(node, "CRLCheck", crl)
}
