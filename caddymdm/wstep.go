package caddymdm

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/dump"
	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

func init() {
	caddy.RegisterModule(WSTEP{})
}

// WSTEP is the MS-WSTEP enrollment service
// (/EnrollmentServer/Enrollment.svc): it authenticates the user, checks the
// device's PKCS#10 request, signs its client certificate with the device CA,
// records the device and answers with the provisioning document.
type WSTEP struct {
	appHandler
}

// CaddyModule returns the Caddy module information.
func (WSTEP) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_wstep",
		New: func() caddy.Module { return new(WSTEP) },
	}
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *WSTEP) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.app.serveEnrollment(w, r, h.logger, maxEnrollmentBody, soap.ActionRequestToken)
	return nil
}

// requestToken answers a RequestSecurityToken (enrollment or renewal).
func (a *App) requestToken(x *soapExchange) {
	creds := enroll.CredentialsFrom(x.env, x.peerCertificates())
	creds.RemoteAddr = remoteIP(x.r)
	body, issued, err := a.service.RequestToken(x.r.Context(), x.env, creds, a.endpoints(x.r))
	if err != nil {
		logRefusalDetail(x, err)
		x.fault(err)
		return
	}
	dev := issued.Device
	fields := []zap.Field{
		zap.String("device_id", dev.DeviceID),
		zap.String("hw_dev_id", dev.HWDevID),
		zap.String("device_name", dev.DeviceName),
		zap.String("os_version", dev.OSVersion),
		zap.String("enrollment_type", string(dev.EnrollmentType)),
		zap.Bool("windows_phone8", dev.WindowsPhone8),
		zap.String("user", dev.User),
		zap.String("certificate_serial", dev.Certificate.Serial),
		zap.String("certificate_thumbprint", dev.Certificate.Thumbprint),
		zap.String("certificate_subject", dev.Certificate.Subject),
		zap.Time("certificate_not_after", dev.Certificate.NotAfter),
		// The device's own subject, kept for diagnosis only (it ends in NUL).
		zap.String("csr_subject_cn", issued.RequestSubjectCN),
	}
	if issued.CSRDeviceID != "" && issued.CSRDeviceID != dev.DeviceID {
		x.logger.Warn("CSR device ID differs from AdditionalContext DeviceID",
			zap.String("csr_device_id", issued.CSRDeviceID), zap.String("device_id", dev.DeviceID))
	}
	msg := "device enrolled"
	if issued.Renewed {
		msg = "certificate renewed"
	}
	x.logger.Info(msg, fields...)
	x.respond(body)
	if a.recorder != nil {
		kind := dump.KindEnrollment
		if issued.Renewed {
			kind = dump.KindRenewal
		}
		if err := a.recorder.RecordEnrollment(x.r.Context(), dev.DeviceID, kind, x.status, x.reqBody, x.respBody); err != nil {
			x.logger.Error("keeping the device trace", zap.String("device_id", dev.DeviceID), zap.Error(err))
		}
	}
}

// logRefusalDetail writes the warn line of a refusal that an admin acts on:
// a password check refused for too many failures, or an enrollment refused
// because the device is enrolled by another user. The exchange's logger
// already names the remote IP; no secret is logged.
func logRefusalDetail(x *soapExchange, err error) {
	var rl *enroll.RateLimitedError
	if errors.As(err, &rl) {
		x.logger.Warn("authentication rate-limited", zap.String("user", rl.User), zap.String("limit", rl.By))
	}
	var oe *enroll.OwnershipError
	if errors.As(err, &oe) {
		x.logger.Warn("enrollment refused: device enrolled by another user",
			zap.String("user", oe.User), zap.String("device_id", oe.DeviceID), zap.String("hw_dev_id", oe.HWDevID),
			zap.String("owner", oe.Owner), zap.String("owner_device_id", oe.OwnerDeviceID))
	}
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_wstep [<matcher>]
//
// The device CA, authentication, certificate validity and document contents
// come from the mdm global option.
func (h *WSTEP) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return noOptions(d)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*WSTEP)(nil)
	_ caddyhttp.MiddlewareHandler = (*WSTEP)(nil)
	_ caddyfile.Unmarshaler       = (*WSTEP)(nil)
)
