package caddymdm

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// serveEnrollment answers an enrollment SOAP request by its Action, whichever
// of the three enrollment endpoints received it: a renewing device starts
// with Discovery at the ServerURL it was given, and readings of MS-MDE2
// differ on which URL that is, so no endpoint strands a device by refusing
// a message meant for another. endpointAction is what the endpoint is named
// for; maxBody its body limit.
func (a *App) serveEnrollment(w http.ResponseWriter, r *http.Request, logger *zap.Logger, maxBody int64, endpointAction string) {
	x, ok := a.readSOAP(w, r, logger, maxBody, endpointAction)
	if !ok {
		return
	}
	if x.env.Action != endpointAction {
		x.logger.Info("enrollment message answered at another service's endpoint",
			zap.String("path", r.URL.Path), zap.String("action", x.env.Action))
	}
	switch x.env.Action {
	case soap.ActionDiscover:
		a.discover(x)
	case soap.ActionGetPolicies:
		a.getPolicies(x)
	case soap.ActionRequestToken:
		a.requestToken(x)
	default:
		x.fault(soap.NewFault(soap.MessageFormat, nil,
			"Unknown action: an enrollment service answers Discover, GetPolicies and RequestSecurityToken."))
	}
}
