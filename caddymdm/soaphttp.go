package caddymdm

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// soapExchange is one SOAP request being served: its trace ID, which ties the
// log lines of the exchange to the TraceId of a fault the device shows.
type soapExchange struct {
	w       http.ResponseWriter
	r       *http.Request
	logger  *zap.Logger
	traceID string
	// action is the Action a fault carries: the response Action of the
	// operation asked for, or of the endpoint's own until the envelope is read.
	action  string
	env     *soap.Envelope
	reqBody []byte
	// status and respBody are what was answered, for the device trace.
	status   int
	respBody []byte
}

// errTooLarge marks a body over the app's limit.
var errTooLarge = errors.New("request body too large")

// Body limits of the SOAP endpoints, sized to real requests: a Discover or
// GetPolicies is 1-2 KB, an enrollment with its CSR about 5 KB, a renewal
// with its PKCS#7 a little more. The app's max_body_size lowers them.
const (
	maxDiscoveryBody  = 64 << 10
	maxPolicyBody     = 64 << 10
	maxEnrollmentBody = 256 << 10
)

// soapLimits bound the tree of an envelope: real ones hold a few hundred
// nodes (elements, attributes, text runs) at most 8 levels deep.
var soapLimits = xmltree.Limits{MaxNodes: 4000, MaxDepth: 32}

// readSOAP reads and parses a POSTed envelope within maxBody bytes (or the
// app's max_body_size, if lower); endpointAction is the request Action the
// endpoint is named for. On failure it has already answered with a fault
// and logged why; ok is false.
func (a *App) readSOAP(w http.ResponseWriter, r *http.Request, logger *zap.Logger, maxBody int64, endpointAction string) (*soapExchange, bool) {
	maxBody = min(maxBody, a.MaxBodySize)
	x := &soapExchange{w: w, r: r, logger: logger, traceID: newTraceID(), action: soap.ResponseAction(endpointAction)}
	x.logger = logger.With(zap.String("trace_id", x.traceID), zap.String("remote_ip", remoteIP(r)))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST is allowed here", http.StatusMethodNotAllowed)
		x.logger.Warn("refused: method not allowed", zap.String("method", r.Method))
		return x, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && int64(len(body)) > maxBody {
		err = errTooLarge
	}
	if err != nil {
		x.fault(soap.NewFault(soap.MessageFormat, err, "The request body could not be read within %d bytes.", maxBody))
		return x, false
	}
	x.logger.Debug("request", zap.Stringer("body", trace.Deferred(func() string { return quote.Bound(trace.SOAP(body), maxLoggedBody) })))
	x.reqBody = body
	if err := soapLimits.Check(body); err != nil {
		x.fault(soap.NewFault(soap.MessageFormat, err, "The request is larger or deeper than any enrollment message."))
		return x, false
	}
	leave, err := a.parseGate.Enter(r.Context())
	if err != nil {
		return x, false // the client has gone
	}
	env, err := soap.Parse(body)
	leave()
	if err != nil {
		x.fault(soap.NewFault(soap.MessageFormat, err, "The request is not a well-formed SOAP envelope."))
		return x, false
	}
	env.ActivityID = x.traceID
	if env.Action == "" {
		// Tolerated: the endpoint says what is asked.
		env.Action = endpointAction
	}
	if ra := soap.ResponseAction(env.Action); ra != "" {
		x.action = ra
	}
	x.env = env
	x.logger = x.logger.With(zap.String("action", env.Action), zap.String("message_id", env.MessageID))
	return x, true
}

// peerCertificates returns the TLS client certificate chain, if any.
func (x *soapExchange) peerCertificates() []*x509.Certificate {
	if x.r.TLS == nil {
		return nil
	}
	return x.r.TLS.PeerCertificates
}

// respond writes a 200 SOAP response with an exact Content-Length.
func (x *soapExchange) respond(body []byte) {
	x.write(http.StatusOK, body)
}

func (x *soapExchange) write(status int, body []byte) {
	x.status, x.respBody = status, body
	x.logger.Debug("response", zap.Int("status", status), zap.Stringer("body", trace.Deferred(func() string { return quote.Bound(trace.SOAP(body), maxLoggedBody) })))
	writeSOAP(x.w, status, body)
}

// fault answers err as an MS-MDE2 SOAP fault and logs the reason, including
// the internal cause the device does not see. Causes never hold secrets. The
// log line is written first, so it exists even if the client hangs up.
func (x *soapExchange) fault(err error) {
	f := soap.AsFault(err)
	status := http.StatusInternalServerError
	if errors.Is(err, errTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	if storageUnavailable(err) {
		// Nothing was decided: the device is told to come back (cluster.go).
		status = http.StatusServiceUnavailable
		x.w.Header().Set("Retry-After", StorageRetryAfter)
		x.logger.Error("enrollment refused: storage unavailable", zap.Error(err), zap.String("retry_after", StorageRetryAfter))
	}
	relates := ""
	if x.env != nil {
		relates = x.env.MessageID
	}
	fields := []zap.Field{
		zap.String("fault", f.Code.Type),
		zap.String("error_code", fmt.Sprintf("0x%08X", f.Code.HResult)),
		zap.String("reason", f.Message),
	}
	if f.Cause != nil {
		fields = append(fields, zap.NamedError("cause", f.Cause))
	}
	if x.env != nil && x.env.Security.Username != "" {
		fields = append(fields, zap.String("user", x.env.Security.Username))
	}
	x.logger.Warn("request refused", fields...)
	x.write(status, f.Envelope(x.action, relates, x.traceID))
}

func writeSOAP(w http.ResponseWriter, status int, body []byte) {
	writeBody(w, status, soap.ContentType, body, true)
}

// newTraceID returns a random UUID: the trace ID of an exchange in the logs,
// and the ActivityId and fault TraceId a device records, which are GUIDs.
func newTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func remoteIP(r *http.Request) string {
	if addr, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && addr != "" {
		return addr
	}
	return r.RemoteAddr
}

// appFrom loads the mdm app for a handler.
func appFrom(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("mdm")
	if err != nil {
		return nil, fmt.Errorf("loading the mdm app: %v", err)
	}
	return v.(*App), nil
}
