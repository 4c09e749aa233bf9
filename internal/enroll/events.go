package enroll

import (
	"strings"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// observeToken tells Events how a RequestSecurityToken was answered: an
// enrollment or a renewal, and its result.
func (s *Service) observeToken(start time.Time, env *soap.Envelope, issued **Issued, err *error) {
	if s.Events == nil {
		return
	}
	op := events.OpEnroll
	switch {
	case *err == nil && *issued != nil && (*issued).Renewed:
		op = events.OpRenew
	case *err != nil:
		if req, perr := ParseTokenRequest(env); perr == nil && req.RequestType != soap.RequestTypeIssue {
			op = events.OpRenew // Renew and Recovery
		}
	}
	s.observe(op, start, err)
}

// observe tells Events of one answered enrollment request, and of the
// refused credential when its fault says so.
func (s *Service) observe(op string, start time.Time, err *error) {
	if s.Events == nil {
		return
	}
	ev := events.Enrollment{Op: op, Result: events.ResultOK, Duration: time.Since(start)}
	if s.Auth != nil {
		ev.Policy = string(s.Auth.Policy())
	}
	if *err != nil {
		f := soap.AsFault(*err)
		ev.Result = strings.ToLower(f.Code.Type)
		switch f.Code {
		case soap.Authentication:
			reason := events.ReasonInvalidCredentials
			if IsRateLimited(*err) {
				reason = events.ReasonRateLimited
			}
			s.Events.AuthFailure(events.AuthFailure{Service: events.ServiceEnrollment, Reason: reason})
		case soap.Authorization:
			s.Events.AuthFailure(events.AuthFailure{Service: events.ServiceEnrollment, Reason: events.ReasonNotOwner})
		}
	}
	s.Events.Enrollment(ev)
}
