package fedlogin

import (
	"html/template"
	"net/http"

	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
)

// Messages of the sign-in form. A wrong user name and a wrong password read
// the same, so the form does not tell which accounts exist.
const (
	msgWrongPassword = "The user name or password is incorrect."
	msgRateLimited   = "Too many failed sign-in attempts. Wait a few minutes, then try again."
	msgMissing       = "Enter your user name and password."
)

// signInPassword answers the posted sign-in form. A wrong password or a
// rate-limited one shows the form again with the error, status 200: the
// Windows web view ends the whole enrollment on an HTTP error, and the
// user should be able to try again.
func (s *Server) signInPassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "", "The sign-in form could not be read.", Event{Method: "password", Reason: "unreadable form", Err: err})
		return
	}
	appru := r.PostFormValue("appru")
	if s.cfg.Passwords == nil {
		s.fail(w, r, http.StatusNotFound, appru, "Password sign-in is not enabled here.", Event{Method: "password", Reason: "no local users"})
		return
	}
	if err := checkAppRU(appru); err != nil {
		s.fail(w, r, http.StatusBadRequest, "", "This sign-in page returns only to the Windows enrollment app, and the address it was given (appru) is not one.", Event{Method: "password", Reason: "bad appru", Err: err})
		return
	}
	if !checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, appru, "This sign-in form has expired or did not come from this page. Sign in again.", Event{Method: "password", Reason: "CSRF token missing or wrong"})
		return
	}
	user, password := cleanHint(r.PostFormValue("username")), r.PostFormValue("password")
	if user == "" || password == "" {
		s.form(w, r, http.StatusOK, appru, user, msgMissing)
		return
	}
	got, err := s.cfg.Passwords.Authenticate(r.Context(), enroll.Credentials{
		Username: user, Password: password, RemoteAddr: s.cfg.ClientAddr(r),
	})
	if err != nil {
		ev := Event{Method: "password", User: user, Reason: "wrong user name or password", Err: err, RateLimited: enroll.IsRateLimited(err)}
		msg := msgWrongPassword
		if ev.RateLimited {
			ev.Reason, msg = "rate-limited", msgRateLimited
		}
		s.report(r, ev)
		s.form(w, r, http.StatusOK, appru, user, msg)
		return
	}
	s.succeed(w, r, "password", got, appru)
}

// templateURL marks an appru checkAppRU accepted as safe for an href or
// action: only ever called with one.
func templateURL(appru string) template.URL {
	return template.URL(appru) //nolint:gosec // scheme checked by checkAppRU
}
