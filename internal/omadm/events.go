package omadm

import (
	"errors"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// observe tells Events how a message was answered, once Handle returns.
func (s *Server) observe(start time.Time, reply **Reply, err *error) {
	if s.Events == nil {
		return
	}
	ev := events.Management{Duration: time.Since(start)}
	var reqErr *RequestError
	switch {
	case *err != nil && errors.As(*err, &reqErr):
		ev.Result = events.MgmtRefused
	case *err != nil || *reply == nil:
		ev.Result = events.MgmtError
	default:
		rep := &(*reply).Report
		ev.Auth, ev.NewSession, ev.Unenrolled = string(rep.Auth), rep.NewSession, rep.Unenrolled
		switch {
		case rep.Auth != "":
			ev.Result = events.MgmtAuthenticated
		case rep.HeaderStatus == syncml.StatusMissingCredentials || rep.HeaderStatus == syncml.StatusInvalidCredentials:
			ev.Result = events.MgmtChallenged
		default:
			ev.Result = events.MgmtRefused
		}
		if rep.AuthFailure != "" {
			s.Events.AuthFailure(events.AuthFailure{Service: events.ServiceManagement, Reason: rep.AuthFailure})
		}
	}
	s.Events.Management(ev)
}

// commandsChanged tells Events what the stored exchange did to commands:
// sent (each message carrying one), acknowledged or canceled.
func (s *Server) commandsChanged(x *exchange) {
	if s.Events == nil {
		return
	}
	c := events.CommandChange{Sent: len(x.report.Sent)}
	for _, cmd := range x.finished {
		switch cmd.State {
		case store.CommandAcknowledged:
			c.Acknowledged++
		case store.CommandCanceled:
			c.Canceled++
		}
	}
	if !c.Empty() {
		s.Events.Commands(c)
	}
}

// failed classifies a digest challenge that refuses a credential (a wrong
// digest, or a session continued without its token), unlike the challenge
// that opens every digest session.
func failed(r authResult, err error) (authResult, error) {
	switch r.status {
	case syncml.StatusInvalidCredentials:
		r.failure = events.ReasonInvalidCredentials
	default:
		r.failure = events.ReasonSessionToken
	}
	return r, err
}

// profilesChanged tells Events of the profile state changes the stored
// exchange made: each status marker moved (profiles.go) leaves one state
// and enters another ("" for none).
func (s *Server) profilesChanged(x *exchange) {
	if s.Events == nil {
		return
	}
	for _, m := range x.fleet.markers {
		s.Events.ProfileState(events.ProfileChange{From: m.from, To: m.to})
	}
}
