package omadm

import (
	"crypto/x509"
	"fmt"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/randtext"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// AuthMode says how devices must authenticate their sessions.
type AuthMode string

// Authentication modes.
const (
	// AuthCertificate requires the TLS client certificate issued to the device.
	AuthCertificate AuthMode = "certificate"
	// AuthDigest requires MD5 digest credentials (APPSRV) in the SyncHdr.
	AuthDigest AuthMode = "digest"
	// AuthEither accepts the certificate or, without one, the digest.
	AuthEither AuthMode = "either"
)

// authResult is the outcome of authenticating one message.
type authResult struct {
	// method is how the message was authenticated; "" when it was not.
	method store.AuthMethod
	// status is the SyncHdr status: 200, 212, 401, 403 or 407.
	status syncml.Status
	// chal carries a fresh nonce with 401, 407 and 212.
	chal *syncml.Meta
	// reason explains a refusal, for the log.
	reason string
	// failure classifies a refused credential for metrics
	// (events.Reason...); empty for the challenge opening a digest session.
	failure string
}

func (a authResult) ok() bool { return a.method != "" }

// authenticate decides whether a message comes from the device it claims.
// A certificate, when presented, must be the one issued to that device: a
// valid certificate of another device is refused, never overridden by a
// digest. Without one, digest credentials are checked when the mode allows.
func (x *exchange) authenticate(peer []*x509.Certificate) (authResult, error) {
	dev := x.dev
	if dev.State != store.StateEnrolled {
		return authResult{status: syncml.StatusForbidden, reason: "device is " + string(dev.State), failure: events.ReasonDeviceState}, nil
	}
	if len(peer) > 0 && x.s.Auth != AuthDigest {
		usedNew, err := x.s.verifyDeviceCertificate(dev, peer)
		if err != nil {
			return authResult{status: syncml.StatusForbidden, reason: "client certificate: " + err.Error(), failure: events.ReasonCertificate}, nil
		}
		if usedNew && dev.PreviousCertificate != nil {
			// The device uses its renewed certificate: the old one stops here.
			dev.PreviousCertificate = nil
			x.devDirty = true
			x.report.Notes = append(x.report.Notes, "device switched to its renewed certificate; the previous one no longer authenticates")
		}
		return authResult{method: store.AuthByCertificate, status: syncml.StatusOK}, nil
	}
	if x.s.Auth == AuthCertificate {
		return authResult{status: syncml.StatusForbidden, reason: "no client certificate, and this server accepts no other credential", failure: events.ReasonMissingCredentials}, nil
	}
	cred := x.msg.Header.Cred
	switch {
	case cred != nil:
		if cred.Type != syncml.AuthMD5 {
			return failed(x.challenge(syncml.StatusInvalidCredentials, fmt.Sprintf("credential type %q, want %s", quote.Bound(cred.Type, 40), syncml.AuthMD5)))
		}
		if err := checkDigest(cred.Data, dev.Digest.ServerName, dev.Digest.ServerSecret, dev.Digest.ServerNonce); err != nil {
			return failed(x.challenge(syncml.StatusInvalidCredentials, err.Error()))
		}
		return x.acceptDigest()
	case x.newSession:
		return x.challenge(syncml.StatusMissingCredentials, "no credentials")
	case x.req.SessionToken == "":
		return failed(x.challenge(syncml.StatusMissingCredentials,
			"no credentials and no session token: a digest session goes on only at the RespURI the server gave"))
	}
	if ok, err := x.continueSession(x.req.SessionToken); err != nil {
		return authResult{}, err
	} else if !ok {
		return failed(x.challenge(syncml.StatusMissingCredentials,
			"session token unknown, expired, not this session's, or issued by a server process that restarted or stopped (sessions end with their package)"))
	}
	x.respToken = x.req.SessionToken
	return authResult{method: store.AuthByDigest, status: syncml.StatusOK}, nil
}

// acceptDigest accepts a message whose digest matched: the nonce is spent
// (the next session needs the new one, sent with 212), and the session is
// bound to a fresh token the device must present for the rest of it.
func (x *exchange) acceptDigest() (authResult, error) {
	nonce, err := randtext.Nonce(x.s.Rand)
	if err != nil {
		return authResult{}, err
	}
	token, err := issueToken(x.s.Rand, x.sess, x.now.Add(x.s.SessionIdle), x.s.NodeID, x.s.boot)
	if err != nil {
		return authResult{}, err
	}
	x.respToken = token
	x.dev.Digest.ServerNonce = nonce
	x.devDirty = true
	return authResult{
		method: store.AuthByDigest,
		status: syncml.StatusAuthAccepted,
		chal:   &syncml.Meta{Type: syncml.AuthMD5, Format: syncml.FormatB64, NextNonce: nonce},
	}, nil
}

// challenge refuses a message with a status and the nonce the device must
// use next. A refusal does not rotate the stored nonce: anyone can provoke
// one, and rotating would let a stranger invalidate the real device's
// digest (and cost a write per unauthenticated message). The nonce changes
// when a digest is accepted; only a device without any nonce gets a first
// one here (P14: 16 random bytes).
func (x *exchange) challenge(status syncml.Status, reason string) (authResult, error) {
	nonce := x.dev.Digest.ServerNonce
	if nonce == "" {
		var err error
		if nonce, err = randtext.Nonce(x.s.Rand); err != nil {
			return authResult{}, err
		}
		x.dev.Digest.ServerNonce = nonce
		x.devDirty = true
	}
	return authResult{
		status: status,
		reason: reason,
		chal:   &syncml.Meta{Type: syncml.AuthMD5, Format: syncml.FormatB64, NextNonce: nonce},
	}, nil
}

// verifyDeviceCertificate checks that the leaf is a live certificate of
// this device (certauth: chains to the device CA for client authentication,
// unexpired, bound to the device): its current one (current is true), or
// during a renewal the one it replaces.
func (s *Server) verifyDeviceCertificate(dev *store.Device, peer []*x509.Certificate) (current bool, err error) {
	b, err := s.Certs.Authenticate(dev, peer)
	return b == certauth.Current, err
}
