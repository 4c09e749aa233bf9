package enroll

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/big"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// OIDSHA256 is the hash algorithm the policy names (P2).
const OIDSHA256 = "2.16.840.1.101.3.4.2.1"

// PolicyOID is the certificate policy's OID: under the UUID arc 2.25
// (X.667), derived from the provider ID, so no registration is needed and it
// is stable across restarts.
func (s *Service) PolicyOID() string {
	sum := sha256.Sum256([]byte("caddy-mdm policy " + s.ProviderID))
	return "2.25." + new(big.Int).SetBytes(sum[:16]).String()
}

// GetPolicies authenticates the requester and answers with the one
// enrollment policy. Windows reads only minimalKeyLength,
// hashAlgorithmOIDReference and the oID it points at (P2); the rest is there
// because the schema wants it.
func (s *Service) GetPolicies(ctx context.Context, env *soap.Envelope, creds Credentials) (_ []byte, user string, err error) {
	defer s.observe(events.OpPolicy, time.Now(), &err)
	if _, err := ParsePolicyRequest(env); err != nil {
		return nil, "", err
	}
	user, err = s.policyRequester(ctx, creds)
	if err != nil {
		return nil, "", authFault(err)
	}

	r := soap.NewResponse(soap.ActionGetPoliciesResponse, env)
	r.Body.CreateAttr("xmlns:xsi", soap.NSXSI)
	r.Body.CreateAttr("xmlns:xsd", soap.NSXSD)
	gpr := r.Body.CreateElement("GetPoliciesResponse")
	gpr.CreateAttr("xmlns", soap.NSPolicy)
	resp := gpr.CreateElement("response")
	resp.CreateElement("policyID").SetText(s.PolicyOID())
	resp.CreateElement("policyFriendlyName").SetText(s.DisplayName)
	nilElement(resp, "nextUpdateHours")
	nilElement(resp, "policiesNotChanged")
	policy := resp.CreateElement("policies").CreateElement("policy")
	policy.CreateElement("policyOIDReference").SetText("0")
	nilElement(policy, "cAs")
	attrs := policy.CreateElement("attributes")
	attrs.CreateElement("commonName").SetText(s.ProviderID)
	attrs.CreateElement("policySchema").SetText("3")
	validity := attrs.CreateElement("certificateValidity")
	validity.CreateElement("validityPeriodSeconds").SetText(strconv.FormatInt(int64(s.Issuer.Validity.Seconds()), 10))
	validity.CreateElement("renewalPeriodSeconds").SetText(strconv.FormatInt(int64(s.RenewalPeriod.Seconds()), 10))
	perm := attrs.CreateElement("permission")
	perm.CreateElement("enroll").SetText("true")
	perm.CreateElement("autoEnroll").SetText("false")
	pk := attrs.CreateElement("privateKeyAttributes")
	pk.CreateElement("minimalKeyLength").SetText(strconv.Itoa(s.MinKeyLength))
	for _, n := range []string{"keySpec", "keyUsageProperty", "permissions", "algorithmOIDReference", "cryptoProviders"} {
		nilElement(pk, n)
	}
	rev := attrs.CreateElement("revision")
	rev.CreateElement("majorRevision").SetText("101")
	rev.CreateElement("minorRevision").SetText("0")
	for _, n := range []string{"supersededPolicies", "privateKeyFlags", "subjectNameFlags", "enrollmentFlags", "generalFlags"} {
		nilElement(attrs, n)
	}
	attrs.CreateElement("hashAlgorithmOIDReference").SetText("1")
	for _, n := range []string{"rARequirements", "keyArchivalAttributes", "extensions"} {
		nilElement(attrs, n)
	}
	nilElement(gpr, "cAs")
	oids := gpr.CreateElement("oIDs")
	addOID(oids, s.PolicyOID(), oidGroupEnrollmentObject, 0, s.DisplayName)
	addOID(oids, OIDSHA256, oidGroupHash, 1, "szOID_NIST_sha256")
	return r.Bytes(), user, nil
}

func nilElement(parent *etree.Element, name string) {
	parent.CreateElement(name).CreateAttr("xsi:nil", "true")
}

// OID groups of MS-XCEP 3.1.4.1.3.16: the policy's own OID (what
// policyOIDReference names, a certificate template's OID in AD CS) is an
// enrollment object identifier, not a certificate policy (8) nor an
// extension or attribute (6).
const (
	oidGroupHash             = 1
	oidGroupEnrollmentObject = 9
)

// addOID writes an oID entry of one of those groups.
func addOID(parent *etree.Element, value string, group, ref int, name string) {
	o := parent.CreateElement("oID")
	o.CreateElement("value").SetText(value)
	o.CreateElement("group").SetText(strconv.Itoa(group))
	o.CreateElement("oIDReferenceID").SetText(strconv.Itoa(ref))
	o.CreateElement("defaultName").SetText(name)
}

// policyRequester authenticates a GetPolicies: a renewing device asks for
// the policy with its device certificate on the connection and no user
// credentials (renewal runs Discovery, GetPolicies, then
// RequestSecurityToken), so the certificate of a live device of this server
// is accepted as that device's owner; anything else goes to the configured
// authentication.
func (s *Service) policyRequester(ctx context.Context, creds Credentials) (string, error) {
	if len(creds.PeerCertificates) > 0 {
		dev, _, err := s.Certs.LiveDevice(ctx, creds.PeerCertificates)
		if err == nil {
			return dev.User, nil
		}
		if errors.Is(err, store.ErrUnavailable) {
			// Undecided, not refused: the device comes back (503).
			return "", soap.NewFault(soap.EnrollmentServer, err, "The server could not read the device's enrollment; try again later.")
		}
	}
	return s.Auth.Authenticate(ctx, creds)
}
