package caddymdm

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

func init() {
	caddy.RegisterModule(OMADM{})
}

// OMADM is the OMA-DM management service (/ManagementServer/MDM.svc, the
// ADDR of every provisioning document): enrolled devices POST SyncML
// messages to it, authenticated by their TLS client certificate or MD5
// digest, and receive the commands queued for them.
type OMADM struct {
	appHandler
}

// CaddyModule returns the Caddy module information.
func (OMADM) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_omadm",
		New: func() caddy.Module { return new(OMADM) },
	}
}

// maxQueryValue bounds the mode and Platform query values.
const maxQueryValue = 64

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *OMADM) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	log := h.logger.With(zap.String("remote_ip", remoteIP(r)), zap.String("trace_id", newTraceID()))
	refuse := func(status int, msg string, fields ...zap.Field) error {
		log.Warn("management request refused", append(fields, zap.Int("status", status), zap.String("reason", msg))...)
		writeBody(w, status, "text/plain; charset=utf-8", []byte(msg+"\n"), true)
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return refuse(http.StatusMethodNotAllowed, "OMA-DM messages are POSTed", zap.String("method", r.Method))
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != syncml.ContentType {
		return refuse(http.StatusUnsupportedMediaType, "Content-Type must be "+syncml.ContentType, zap.String("content_type", r.Header.Get("Content-Type")))
	}
	query := r.URL.Query()
	for key, vals := range query {
		if key != "mode" && key != "Platform" && key != omadm.SessionTokenParam {
			return refuse(http.StatusBadRequest, "unknown query parameter: only mode, Platform and "+omadm.SessionTokenParam+" are defined",
				zap.String("parameter", quote.Bound(key, maxQueryValue)))
		}
		if len(vals) != 1 || len(vals[0]) > maxQueryValue {
			return refuse(http.StatusBadRequest, "query parameter "+key+" must appear once, at most 64 characters")
		}
	}
	token := query.Get(omadm.SessionTokenParam)
	query.Del(omadm.SessionTokenParam)
	body, err := io.ReadAll(io.LimitReader(r.Body, h.app.MaxBodySize+1))
	if err != nil {
		return refuse(http.StatusBadRequest, "reading the body: "+err.Error())
	}
	if int64(len(body)) > h.app.MaxBodySize {
		return refuse(http.StatusRequestEntityTooLarge, "message larger than "+strconv.FormatInt(h.app.MaxBodySize, 10)+" bytes")
	}
	// The request is logged once handled: only then is it known which of
	// its Results answer a sensitive command.
	logRequest := func(sensitive []string) {
		log.Debug("request", zap.Stringer("body", trace.Deferred(func() string {
			return quote.Bound(trace.SyncML(body, sensitive...), maxLoggedBody)
		})))
	}
	req := omadm.Request{Body: body, ServerURL: h.app.endpoints(r).Management, Query: query, SessionToken: token}
	if r.TLS != nil {
		req.PeerCertificates = r.TLS.PeerCertificates
	}
	reply, err := h.app.management.Handle(r.Context(), req)
	var reqErr *omadm.RequestError
	if errors.As(err, &reqErr) {
		logRequest(nil)
		var fields []zap.Field
		if reqErr.Cause != nil {
			fields = append(fields, zap.String("cause", quote.Bound(reqErr.Cause.Error(), 200)))
		}
		return refuse(reqErr.Status, reqErr.Msg, fields...)
	}
	if err != nil && storageUnavailable(err) {
		logRequest(nil)
		refuseUnavailable(w, log, "management message", err)
		return nil
	}
	if err != nil {
		log.Error("management message failed", zap.Error(err))
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	rep := reply.Report
	logRequest(rep.Sensitive.Request)
	fields := []zap.Field{
		zap.String("device_id", rep.DeviceID),
		zap.String("session_id", boundedField(rep.SessionID)),
		zap.String("msg_id", boundedField(rep.MsgID)),
		zap.Bool("new_session", rep.NewSession),
		zap.String("mode", boundedField(query.Get("mode"))),
		zap.String("platform", boundedField(query.Get("Platform"))),
		zap.String("auth", string(rep.Auth)),
		zap.Int("header_status", int(rep.HeaderStatus)),
		zap.Strings("received", boundedList(rep.Received)),
		zap.Strings("sent", boundedList(rep.Sent)),
		zap.Strings("acknowledged", boundedList(rep.Acknowledged)),
		zap.Bool("final", rep.Final),
	}
	if len(rep.Notes) > 0 {
		fields = append(fields, zap.Strings("notes", boundedList(rep.Notes)))
	}
	switch {
	case rep.Refused != "":
		log.Warn("management message refused", append(fields, zap.String("reason", quote.Bound(rep.Refused, 4*maxLoggedField)))...)
	case rep.Unenrolled:
		log.Warn("device unenrolled itself", fields...)
	default:
		log.Info("management message", fields...)
	}
	writeBody(w, http.StatusOK, syncml.ContentType, reply.Body, true)
	log.Debug("response", zap.Stringer("body", trace.Deferred(func() string {
		return quote.Bound(trace.SyncML(reply.Body, rep.Sensitive.Reply...), maxLoggedBody)
	})))
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_omadm [<matcher>]
//
// Authentication (management_auth), message limits and the device CA come
// from the mdm global option. The site should request client certificates:
//
//	tls {
//		client_auth {
//			mode verify_if_given
//			trust_pool mdm_device_ca
//		}
//	}
func (h *OMADM) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noOptions(d)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OMADM)(nil)
	_ caddyhttp.MiddlewareHandler = (*OMADM)(nil)
	_ caddyfile.Unmarshaler       = (*OMADM)(nil)
)
