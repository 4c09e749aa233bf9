package enroll

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-mdm/caddy-mdm/internal/fedtoken"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// ErrTokenSpent refuses a federated token that already enrolled a device.
var ErrTokenSpent = errors.New("enrollment token already used")

// TokenSpender is a TokenVerifier whose tokens are single-use: GetPolicies
// only verifies a token (VerifyToken), RequestSecurityToken spends it
// (SpendToken), so a token replayed after an enrollment is refused.
type TokenSpender interface {
	TokenVerifier
	// SpendToken verifies token, records it as spent and names its user;
	// a token spent before is refused with ErrTokenSpent.
	SpendToken(ctx context.Context, token string) (user string, err error)
}

// SpendToken implements TokenSpender. Without a Ledger it only verifies.
func (v HMACTokenVerifier) SpendToken(ctx context.Context, token string) (string, error) {
	c, err := fedtoken.Verify(v.Secret, token, v.Now())
	if err != nil {
		return "", err
	}
	if v.Ledger == nil {
		return c.User, nil
	}
	if err := v.Ledger.Spend(ctx, c); err != nil {
		if errors.Is(err, fedtoken.ErrSpent) {
			return "", fmt.Errorf("%w (user %q)", ErrTokenSpent, c.User)
		}
		return "", ledgerFault(err)
	}
	return c.User, nil
}

// tokenSpentFault answers a replayed token with MS-MDE2's InvalidSecurity
// (0x80180007, MENROLL_E_DEVICE_INVALIDSECURITY_ERROR): the token was
// genuine but its security header can no longer be accepted, the fault
// WS-Security stacks (WCF's replay detection among them) give a replay.
// A token that is forged, malformed or expired stays an Authentication
// fault: no user was recognized.
func tokenSpentFault(err error) *soap.Fault {
	return soap.NewFault(soap.InvalidSecurity, err, "This sign-in was already used to enroll a device; sign in again.")
}

// ledgerFault answers a spent-token record that could not be read or
// written: the server's failure (EnrollmentServer), not the user's.
func ledgerFault(err error) *soap.Fault {
	return soap.NewFault(soap.EnrollmentServer, err, "The server could not check the sign-in; try again.")
}
