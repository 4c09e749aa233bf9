package omadm

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/randtext"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// Server runs OMA-DM sessions.
type Server struct {
	Store      *store.Store
	ProviderID string
	Auth       AuthMode
	// Roots and Intermediates verify device client certificates.
	Roots         *x509.CertPool
	Intermediates []*x509.Certificate
	// Certs decides whether a client certificate is the device's; Validate
	// makes one over Roots, Intermediates, Store and Now when nil.
	Certs *certauth.Authority
	// MaxMsgSize bounds the server's messages when the device names no
	// MaxMsgSize (0: unbounded).
	MaxMsgSize int
	// MaxObjectSize bounds a large object received from a device.
	MaxObjectSize int
	// SessionIdle is how long a digest-authenticated session stays open
	// between two device messages (default DefaultSessionIdle).
	SessionIdle time.Duration
	Now         func() time.Time
	Rand        io.Reader

	// NodeID names this node in the sessions it serves (random at Validate
	// when empty); see takeover.go.
	NodeID string
	// SessionTakeover is how long a session served by another live node
	// keeps its commands in flight after its latest message (default
	// DefaultSessionTakeover).
	SessionTakeover time.Duration

	// ParseGate, when set, bounds the messages parsed at once.
	ParseGate xmltree.Gate
	// Recorder, when set, keeps the device's exchanges (its trace).
	Recorder Recorder
	// Events, when set, is told of each message answered and of the
	// commands it changed (metrics).
	Events events.Observer
	// UserTokens, when set, verifies the Entra user token of Alert 1224
	// (aaduser.go); nil without Entra ID.
	UserTokens UserTokenVerifier

	idle idleSessions
	// boot is this server's boot ID, drawn at Validate (sessiontoken.go).
	boot string
}

// DefaultMaxObjectSize bounds a large object received from a device.
const DefaultMaxObjectSize = 4 << 20

// Validate fills defaults and checks the server can run.
func (s *Server) Validate() error {
	if s.Store == nil || (s.Roots == nil && s.Certs == nil) || s.ProviderID == "" {
		return errors.New("omadm: store, device CA roots and provider ID are required")
	}
	if s.Certs == nil {
		// The server's clock, read at each check (tests move it).
		s.Certs = &certauth.Authority{Roots: s.Roots, Intermediates: s.Intermediates, Store: s.Store,
			Now: func() time.Time { return s.Now() }}
	}
	switch s.Auth {
	case "":
		s.Auth = AuthEither
	case AuthCertificate, AuthDigest, AuthEither:
	default:
		return fmt.Errorf("omadm: authentication %q: want certificate, digest or either", s.Auth)
	}
	if s.MaxObjectSize == 0 {
		s.MaxObjectSize = DefaultMaxObjectSize
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Rand == nil {
		s.Rand = rand.Reader
	}
	if s.SessionIdle <= 0 {
		s.SessionIdle = DefaultSessionIdle
	}
	if s.SessionTakeover <= 0 {
		s.SessionTakeover = DefaultSessionTakeover
	}
	if s.NodeID == "" {
		id, err := randtext.Secret(s.Rand, 9)
		if err != nil {
			return err
		}
		s.NodeID = "node-" + id
	}
	if s.boot == "" {
		boot, err := newBootID()
		if err != nil {
			return err
		}
		s.boot = boot
	}
	return nil
}

// Request is one SyncML message as it arrived.
type Request struct {
	Body             []byte
	PeerCertificates []*x509.Certificate
	// ServerURL is the management URL the device called (the Source of replies).
	ServerURL string
	// Query holds the query parameters the device called with (mode,
	// Platform), repeated in the RespURI of a digest session.
	Query url.Values
	// SessionToken is the session token the device's URL carried, if any.
	SessionToken string
}

// Recorder keeps the exchanges of a device (its trace). Handle calls it for
// authenticated exchanges only, holding the device's lock.
type Recorder interface {
	RecordManagement(ctx context.Context, deviceID string, request, response []byte, sensitive SensitiveCmdIDs) error
}

// Reply is the answer to a message and what happened, for the log.
type Reply struct {
	Body   []byte
	Report Report
}

// Report summarizes an exchange. It holds no secret.
type Report struct {
	DeviceID, SessionID, MsgID string
	NewSession                 bool
	// Auth is how the message was authenticated; empty when refused.
	Auth         store.AuthMethod
	HeaderStatus syncml.Status
	// Refused explains a refusal of the whole message.
	Refused string
	// Received lists the device's commands, Sent the commands handed out,
	// Acknowledged the commands the device answered.
	Received     []string
	Sent         []string
	Acknowledged []string
	Unenrolled   bool
	// Final is set when the reply ends the server's package.
	Final bool
	// Notes are things worth a log line (unknown references, ...).
	Notes []string
	// Sensitive names the CmdIDs whose item data must not be logged or
	// traced (trace.SyncML): sensitive commands in the reply, Results
	// answering them in the device's message.
	Sensitive SensitiveCmdIDs
	// AuthFailure classifies a refused credential (events.Reason...);
	// empty when the message was authenticated, or only got the challenge
	// that opens every digest session.
	AuthFailure string
}

// RequestError is a message that cannot be answered in SyncML: the HTTP
// status to answer with, a fixed text for the client (never an echo of its
// input), and the cause for the log.
type RequestError struct {
	Status int
	Msg    string
	Cause  error
}

func (e *RequestError) Error() string { return e.Msg }

// Handle processes one device message. Messages of one device are
// serialized; those of different devices run in parallel.
func (s *Server) Handle(ctx context.Context, req Request) (reply *Reply, err error) {
	defer s.observe(time.Now(), &reply, &err)
	if err := SyncMLLimits.Check(req.Body); err != nil {
		return nil, &RequestError{Status: 413, Msg: "message too complex", Cause: err}
	}
	if s.ParseGate != nil {
		leave, err := s.ParseGate.Enter(ctx)
		if err != nil {
			return nil, err
		}
		defer leave()
	}
	msg, err := syncml.Parse(req.Body)
	if err != nil {
		return s.malformed(req, err)
	}
	h := msg.Header
	deviceID := h.Source
	if !store.ValidDeviceID(deviceID) {
		return nil, &RequestError{Status: 400, Msg: "SyncHdr Source is not a device ID", Cause: fmt.Errorf("Source %q", quote.Bound(deviceID, 80))}
	}
	if h.SessionID == "" || h.MsgID == "" {
		return nil, &RequestError{Status: 400, Msg: "SyncHdr lacks SessionID or MsgID"}
	}
	x := &exchange{s: s, msg: msg, req: req, now: s.Now(), ctx: ctx, finished: map[string]*store.Command{}}
	x.report = Report{DeviceID: deviceID, SessionID: h.SessionID, MsgID: h.MsgID}

	if h.VerDTD != syncml.VerDTD || h.VerProto != syncml.VerProto {
		return x.refuse(syncml.StatusVersionNotSupported, nil,
			fmt.Sprintf("VerDTD %q / VerProto %q, want %s / %s", h.VerDTD, h.VerProto, syncml.VerDTD, syncml.VerProto)), nil
	}
	if dup := duplicateCmdID(msg.Commands, map[string]bool{}); dup != "" {
		return x.refuse(syncml.StatusBadRequest, nil, "duplicate CmdID "+dup), nil
	}

	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if x.dev, err = s.Store.Device(ctx, deviceID); errors.Is(err, store.ErrNotFound) {
		x.report.AuthFailure = events.ReasonDeviceState
		return x.refuse(syncml.StatusForbidden, nil, "unknown device"), nil
	} else if err != nil {
		return nil, err
	}
	if err := x.loadSession(ctx); err != nil {
		return nil, err
	}
	auth, err := x.authenticate(req.PeerCertificates)
	if err != nil {
		return nil, err
	}
	if !auth.ok() {
		// Nothing the message says is applied, and nothing is written but
		// a first nonce where the device had none.
		if x.devDirty {
			if err := s.Store.PutDevice(ctx, x.dev); err != nil {
				return nil, err
			}
		}
		x.report.AuthFailure = auth.failure
		return x.refuse(auth.status, auth.chal, auth.reason), nil
	}
	x.report.Auth = auth.method
	x.sess.Authenticated = auth.method
	x.hdrStatus, x.hdrChal = auth.status, auth.chal

	if err := x.load(ctx); err != nil {
		return nil, err
	}
	x.apply()
	if err := x.reconcile(ctx); err != nil {
		return nil, err
	}
	body := x.reply()
	// Commands the reply finished itself (too large for the device, an
	// unenroll) settle their profiles too.
	if err := x.settleFleet(ctx); err != nil {
		return nil, err
	}
	// The decision is made and the reply built: write it whole even if
	// the device hangs up now, so that a disconnect never leaves an
	// acknowledged command queued or profile states behind the queue.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := x.save(wctx); err != nil {
		return nil, err
	}
	s.commandsChanged(x)
	if err := x.saveFleet(wctx); err != nil {
		return nil, err
	}
	s.profilesChanged(x)
	if s.Recorder != nil {
		// Only here, authenticated and under the device lock: a stranger's
		// message neither creates storage nor pushes real exchanges out,
		// and a device's exchanges are kept in the order they happened.
		if err := s.Recorder.RecordManagement(ctx, deviceID, req.Body, body, x.report.Sensitive); err != nil {
			x.report.Notes = append(x.report.Notes, "keeping the trace failed: "+err.Error())
		}
	}
	return &Reply{Body: body, Report: x.report}, nil
}

// saveTimeout bounds the writes of one message once its reply is built.
const saveTimeout = 30 * time.Second

// SyncMLLimits bound what parsing a device message may cost before its
// tree is built: a real message holds a few hundred nodes, a large Results
// a few thousand.
var SyncMLLimits = xmltree.Limits{MaxNodes: 50000, MaxDepth: syncml.MaxDepth + 2}

// malformed answers a message that does not parse: in SyncML, with a 400
// SyncHdr status, when its header names a session and a device; otherwise
// with a plain 400. Neither echoes the input.
func (s *Server) malformed(req Request, cause error) (*Reply, error) {
	h, ok := syncml.ParseHeader(req.Body)
	if !ok || !store.ValidDeviceID(h.Source) || h.SessionID == "" || h.MsgID == "" {
		return nil, &RequestError{Status: 400, Msg: "not a SyncML 1.2 message", Cause: cause}
	}
	x := &exchange{s: s, msg: &syncml.Message{Header: h}, req: req, now: s.Now()}
	x.report = Report{DeviceID: h.Source, SessionID: h.SessionID, MsgID: h.MsgID}
	return x.refuse(syncml.StatusBadRequest, nil, "malformed message: "+quote.Bound(cause.Error(), 200)), nil
}

// duplicateCmdID returns a CmdID used twice in a message (nested included).
func duplicateCmdID(cmds []*syncml.Command, seen map[string]bool) string {
	for _, c := range cmds {
		if seen[c.CmdID] {
			return c.CmdID
		}
		seen[c.CmdID] = true
		if d := duplicateCmdID(c.Children, seen); d != "" {
			return d
		}
	}
	return ""
}

// refuse answers a whole message with one SyncHdr status (and a challenge),
// applying nothing.
func (x *exchange) refuse(status syncml.Status, chal *syncml.Meta, reason string) *Reply {
	x.report.HeaderStatus = status
	x.report.Refused = reason
	x.report.Final = true
	m := x.replyMessage()
	m.Commands = []*syncml.Command{x.headerStatus(status, chal)}
	m.Final = true
	return &Reply{Body: syncml.Marshal(m), Report: x.report}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
