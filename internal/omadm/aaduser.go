package omadm

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// AADUserTokenType is the Meta Type of the Alert 1224 item in which an
// Entra-joined device sends, in package 1, the Entra access token of the
// user signed in on it (absent when nobody is, or a local or guest user is).
const AADUserTokenType = "com.microsoft/MDM/AADUserToken"

// UserTokenVerifier checks an Entra user token and names its user and
// tenant; nil when Entra ID is not configured.
type UserTokenVerifier interface {
	VerifyUserToken(ctx context.Context, token string) (user, tenantID string, err error)
}

// maxUserToken bounds the token read from an alert.
const maxUserToken = 32 << 10

// applyAADUserToken takes the user token of an Alert 1224 item: verified,
// its user becomes the session's signed-in user (store.Session.EntraUser)
// and the device's latest "AADUserToken" event in the inventory. The token
// itself is never kept. A token that cannot be verified (no Entra
// configuration, or refused) leaves the session without a user, with a
// note saying why.
func (x *exchange) applyAADUserToken(data string) {
	token := strings.TrimSpace(data)
	if len(token) > maxUserToken {
		x.report.Notes = append(x.report.Notes, "AADUserToken refused: larger than an Entra token")
		return
	}
	if !strings.HasPrefix(token, "eyJ") {
		// Sent base64-encoded, as enrollment does.
		if raw, err := base64.StdEncoding.DecodeString(token); err == nil {
			token = string(raw)
		}
	}
	if x.s.UserTokens == nil {
		x.report.Notes = append(x.report.Notes, "AADUserToken not verified: Entra ID is not configured")
		return
	}
	user, tenantID, err := x.s.UserTokens.VerifyUserToken(x.ctx, token)
	if err != nil {
		x.report.Notes = append(x.report.Notes, "AADUserToken refused: "+err.Error())
		return
	}
	if x.dev.EntraTenantID != "" && !strings.EqualFold(tenantID, x.dev.EntraTenantID) {
		// With several tenants configured, a user of another tenant than
		// the one the device joined must not count as its user.
		x.report.Notes = append(x.report.Notes, "AADUserToken refused: a user of tenant "+tenantID+", the device joined "+x.dev.EntraTenantID)
		return
	}
	x.sess.EntraUser = user
	x.report.Notes = append(x.report.Notes, "Entra user signed in: "+user)
	if x.inv.SetEvent(AADUserTokenType, user) {
		x.changedInventory()
	}
}

// holdForUser tells whether a queued command waits for a user: on an Entra
// ID device enrollment (Entra join, EnrollmentType Device), which serves
// whoever signs in, commands addressed to ./User/ are only sent in a
// session whose Alert 1224 carried a verified user token. Until then (right
// after the join, before anyone signs in, or with a local or guest user)
// only device-scoped commands go out, as Microsoft asks of MDM servers; a
// held command stays queued. Work-account enrollments (Full) belong to the
// one user who enrolled, and get everything.
func (x *exchange) holdForUser(cmd *store.Command) bool {
	if x.dev.EnrollmentType != store.EnrollmentDevice || x.dev.EntraTenantID == "" || x.sess.EntraUser != "" {
		return false
	}
	if !targetsUser(&cmd.Spec) {
		return false
	}
	x.report.Notes = append(x.report.Notes, cmd.ID+" held: it targets ./User/ and no Entra user is signed in")
	return true
}

// targetsUser reports whether a command (or one inside it) addresses the
// user scope.
func targetsUser(spec *store.CommandSpec) bool {
	for _, it := range spec.Items {
		if len(it.Target) >= 7 && strings.EqualFold(it.Target[:7], "./User/") {
			return true
		}
	}
	for i := range spec.Commands {
		if targetsUser(&spec.Commands[i]) {
			return true
		}
	}
	return false
}
