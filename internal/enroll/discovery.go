package enroll

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// DiscoveryRequest is what a device says of itself in Discover.
type DiscoveryRequest struct {
	EmailAddress       string
	RequestVersion     string
	DeviceType         string
	ApplicationVersion string
	OSEdition          string
	AuthPolicies       []string
}

// DiscoveryResult is what the server answered, for logs.
type DiscoveryResult struct {
	Request           DiscoveryRequest
	AuthPolicy        store.AuthPolicy
	EnrollmentVersion string
	// PolicyOffered is false when the device did not list our AuthPolicy.
	PolicyOffered bool
}

// Discover answers a Discover request with the AuthPolicy, the
// EnrollmentVersion min(requested, supported) and the service URLs.
func (s *Service) Discover(env *soap.Envelope, ep Endpoints) (_ []byte, _ *DiscoveryResult, err error) {
	defer s.observe(events.OpDiscovery, time.Now(), &err)
	dr, err := ParseDiscoveryRequest(env)
	if err != nil {
		return nil, nil, err
	}
	requested := version{1, 0}
	if dr.RequestVersion != "" {
		v, err := parseVersion(dr.RequestVersion)
		if err != nil {
			return nil, nil, soap.NewFault(soap.MessageFormat, err, "RequestVersion %q is not a version.", dr.RequestVersion)
		}
		requested = v
	}
	supported, _ := parseVersion(s.MaxEnrollmentVersion)
	answer := requested
	if supported.less(requested) {
		answer = supported
	}
	policy := s.Auth.Policy()
	res := &DiscoveryResult{Request: *dr, AuthPolicy: policy, EnrollmentVersion: answer.String()}
	for _, p := range dr.AuthPolicies {
		if strings.EqualFold(p, string(policy)) {
			res.PolicyOffered = true
		}
	}

	r := soap.NewResponse(soap.ActionDiscoverResponse, env)
	r.Body.CreateAttr("xmlns:xsi", soap.NSXSI)
	r.Body.CreateAttr("xmlns:xsd", soap.NSXSD)
	resp := r.Body.CreateElement("DiscoverResponse")
	resp.CreateAttr("xmlns", soap.NSDiscovery)
	result := resp.CreateElement("DiscoverResult")
	result.CreateElement("AuthPolicy").SetText(string(policy))
	result.CreateElement("EnrollmentVersion").SetText(answer.String())
	result.CreateElement("EnrollmentPolicyServiceUrl").SetText(ep.Policy)
	result.CreateElement("EnrollmentServiceUrl").SetText(ep.Enrollment)
	if ta, ok := s.Auth.(*TokenAuth); ok {
		// A configured external page wins over the server's own.
		url := ta.ServiceURL
		if url == "" {
			url = ep.Authentication
		}
		result.CreateElement("AuthenticationServiceUrl").SetText(url)
	}
	return r.Bytes(), res, nil
}

// SameEndpoint compares a:To with the URL a request was served at loosely:
// scheme and host without regard to case, default ports ignored, trailing
// slashes ignored (real devices send "https://EnterpriseEnrollment.x:443/...").
func SameEndpoint(to, served string) bool {
	return normalizeURL(to) == normalizeURL(served)
}

func normalizeURL(u string) string {
	u = strings.TrimSpace(u)
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return strings.TrimRight(u, "/")
	}
	scheme = strings.ToLower(scheme)
	host, path, _ := strings.Cut(rest, "/")
	host = strings.ToLower(host)
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else if scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	}
	return fmt.Sprintf("%s://%s/%s", scheme, host, strings.TrimRight(path, "/"))
}
