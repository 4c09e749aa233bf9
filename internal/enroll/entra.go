package enroll

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/entra"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Identity is who an enrollment authenticated: the user name every
// policy gives, and for Entra ID the tenant and the user's object ID.
type Identity struct {
	User     string
	TenantID string
	ObjectID string
}

// IdentityAuthenticator is an Authenticator that knows more of the user
// than a name (Entra ID); the enrollment service records it.
type IdentityAuthenticator interface {
	Authenticator
	AuthenticateIdentity(ctx context.Context, c Credentials) (Identity, error)
}

// JWTVerifier checks an Entra ID access token (entra.Verifier).
type JWTVerifier interface {
	Verify(ctx context.Context, token string) (*entra.Identity, error)
}

// TermsChecker checks the OpaqueBlob the terms-of-use page handed out on
// acceptance, which Windows returns in the RequestSecurityToken's
// AdditionalContext (EnrollmentData): it must be genuine, unexpired and
// issued to the same tenant and user object.
type TermsChecker interface {
	CheckAcceptance(blob, tenantID, objectID string) error
}

// EntraAuth is Entra ID (Azure AD) join and work-account enrollment:
// Windows sends the Entra access token for the MDM application as the
// BinarySecurityToken of GetPolicies and RequestSecurityToken (ValueType
// urn:ietf:params:oauth:token-type:jwt, base64). Discovery announces
// Federated, as Windows expects for Entra enrollment, and no
// AuthenticationServiceUrl: Windows skips it, having its token already.
type EntraAuth struct {
	Verifier JWTVerifier
	// Terms, when set, requires the terms of use to have been accepted:
	// RequestSecurityToken must carry the page's OpaqueBlob.
	Terms TermsChecker
}

// Policy implements Authenticator.
func (*EntraAuth) Policy() store.AuthPolicy { return PolicyFederated }

// Authenticate implements Authenticator.
func (a *EntraAuth) Authenticate(ctx context.Context, c Credentials) (string, error) {
	id, err := a.AuthenticateIdentity(ctx, c)
	return id.User, err
}

// AuthenticateIdentity implements IdentityAuthenticator.
func (a *EntraAuth) AuthenticateIdentity(ctx context.Context, c Credentials) (Identity, error) {
	t := c.Token
	if t == nil || strings.TrimSpace(t.Value) == "" {
		return Identity{}, errors.New("no BinarySecurityToken with an Entra access token in the Security header")
	}
	if t.ValueType != soap.ValueTypeJWT {
		return Identity{}, fmt.Errorf("token ValueType %q is not %s", t.ValueType, soap.ValueTypeJWT)
	}
	token, err := jwtText(t)
	if err != nil {
		return Identity{}, err
	}
	id, err := a.Verifier.Verify(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	return Identity{User: id.User, TenantID: id.TenantID, ObjectID: id.ObjectID}, nil
}

// jwtText returns the compact JWT of a BinarySecurityToken. Windows sends
// it base64-encoded (EncodingType ...#base64binary, spelled in either case
// and under either WS-Security namespace), possibly wrapped over lines; a
// value that already is a compact JWS is taken as is.
func jwtText(t *soap.BinaryToken) (string, error) {
	v := stripSpace(t.Value)
	if len(v) > 2*entra.MaxTokenSize {
		return "", fmt.Errorf("token of %d bytes is larger than an Entra access token", len(v))
	}
	if strings.HasPrefix(v, "eyJ") && strings.Count(v, ".") == 2 && t.EncodingType == "" {
		return v, nil
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		// Unpadded base64 also occurs; a compact JWS is not base64 at all.
		if raw, err2 := base64.RawStdEncoding.DecodeString(v); err2 == nil {
			return string(raw), nil
		}
		if strings.Count(v, ".") == 2 {
			return v, nil
		}
		return "", fmt.Errorf("token is not base64: %v", err)
	}
	return string(raw), nil
}

// authenticateIssue authenticates a RequestSecurityToken Issue: the
// configured policy, and with Entra ID the terms of use when they are
// required. The error is the SOAP fault to answer.
func (s *Service) authenticateIssue(ctx context.Context, creds Credentials, req *TokenRequest) (Identity, error) {
	ia, ok := s.Auth.(IdentityAuthenticator)
	if !ok {
		user, err := s.Auth.Authenticate(ctx, creds)
		if err != nil {
			return Identity{}, authFault(err)
		}
		return Identity{User: user}, nil
	}
	id, err := ia.AuthenticateIdentity(ctx, creds)
	if err != nil {
		return Identity{}, authFault(err)
	}
	if ea, ok := s.Auth.(*EntraAuth); ok && ea.Terms != nil {
		blob := req.Context.EnrollmentData
		if blob == "" || strings.EqualFold(blob, "null") {
			return Identity{}, soap.NewFault(soap.Authorization, errors.New("terms of use are required and the request carries no EnrollmentData (OpaqueBlob)"),
				"The terms of use have not been accepted.")
		}
		if err := ea.Terms.CheckAcceptance(blob, id.TenantID, id.ObjectID); err != nil {
			return Identity{}, soap.NewFault(soap.Authorization, fmt.Errorf("terms of use acceptance (EnrollmentData): %v", err),
				"The terms of use have not been accepted.")
		}
	}
	return id, nil
}
