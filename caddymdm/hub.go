package caddymdm

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Hub{})
}

// Hub serves the company hub and company apps (Windows Phone 8 .xap,
// Windows .appx/.msix/.msi) from a directory through Caddy's file server, so
// byte ranges are right: 206 always with Content-Range, 416 for a range
// past the end, If-Range with ETags, HEAD (pitfall P11). With
// require_client_certificate, only enrolled, unretired devices holding
// their device CA certificate may download. Every download is logged and
// counted.
type Hub struct {
	// The directory the packages are served from.
	Root string `json:"root"`
	// Only devices presenting the client certificate issued to them at
	// enrollment (enrolled, not retired) may download; others get 403.
	RequireClientCertificate bool `json:"require_client_certificate,omitempty"`

	appHandler
	files   *fileserver.FileServer
	metrics *hubMetrics
}

// CaddyModule returns the Caddy module information.
func (Hub) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mdm_hub",
		New: func() caddy.Module { return new(Hub) },
	}
}

// Provision sets up the file server and the metrics.
func (h *Hub) Provision(ctx caddy.Context) (err error) {
	if err := h.appHandler.Provision(ctx); err != nil {
		return err
	}
	// Hide dotfiles in the file server too (checkHubPath refuses them first).
	h.files = &fileserver.FileServer{Root: h.Root, Hide: dotfileHide(h.Root)}
	if err := h.files.Provision(ctx); err != nil {
		return fmt.Errorf("mdm_hub file server: %v", err)
	}
	h.metrics, err = hubMetricsOn(ctx.GetMetricsRegistry())
	return err
}

// Validate checks the configuration.
func (h *Hub) Validate() error {
	if h.Root == "" {
		return errors.New("mdm_hub needs a root directory")
	}
	return nil
}

// packageTypes are the media types of app packages; Go's tables lack them.
var packageTypes = map[string]string{
	".xap":          "application/x-silverlight-app",
	".appx":         "application/appx",
	".appxbundle":   "application/appxbundle",
	".msix":         "application/msix",
	".msixbundle":   "application/msixbundle",
	".msi":          "application/x-msi",
	".aetx":         "application/xml",
	".appinstaller": "application/appinstaller",
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	log := h.logger.With(zap.String("remote_ip", remoteIP(r)), zap.String("file", r.URL.Path))
	deviceID := ""
	if h.RequireClientCertificate {
		id, err := h.deviceOf(r)
		if err != nil && storageUnavailable(err) {
			// Undecided: the device is not refused, it comes back.
			refuseUnavailable(w, log, "hub download", err)
			return nil
		}
		if err != nil {
			log.Warn("hub download refused", zap.String("reason", err.Error()))
			h.metrics.refused.Inc()
			return caddyhttp.Error(http.StatusForbidden, err)
		}
		deviceID = id
	}
	// The file server follows symlinks wherever they lead: refuse a path
	// that leaves the root once resolved, or that has a hidden segment.
	root := h.Root
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		root = repl.ReplaceAll(root, ".")
	}
	if err := checkHubPath(root, r.URL.Path, h.files.IndexNames); err != nil && !errors.Is(err, errHubNotFound) {
		log.Warn("hub download refused", zap.String("device_id", deviceID), zap.String("path", r.URL.Path), zap.String("reason", err.Error()))
		h.metrics.downloads.WithLabelValues(strconv.Itoa(http.StatusNotFound)).Inc()
		return caddyhttp.Error(http.StatusNotFound, nil)
	}
	if ct, ok := packageTypes[strings.ToLower(path.Ext(r.URL.Path))]; ok {
		w.Header().Set("Content-Type", ct)
	}
	// Packages are already compressed; no-transform keeps `encode` (and any
	// proxy) from re-encoding them, which would break byte ranges.
	w.Header().Set("Cache-Control", "private, no-transform")
	cw := &countingWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := h.files.ServeHTTP(cw, r, next)
	if err != nil && cw.status == 0 {
		// The error page Caddy writes is no package.
		w.Header().Del("Content-Type")
	}
	status := cw.status
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		status = he.StatusCode
	}
	h.metrics.downloads.WithLabelValues(strconv.Itoa(status)).Inc()
	h.metrics.bytes.Add(float64(cw.bytes))
	log.Info("hub download",
		zap.String("device_id", deviceID),
		zap.String("method", r.Method),
		zap.String("range", r.Header.Get("Range")),
		zap.Int("status", status),
		zap.Int64("bytes", cw.bytes))
	return err
}

// deviceOf returns the device a request's client certificate belongs to:
// a live device holding it as its current (or, during a renewal, previous)
// certificate, as certauth decides for every service.
func (h *Hub) deviceOf(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", errors.New("no client certificate (the site needs client_auth with trust_pool mdm_device_ca)")
	}
	dev, _, err := h.app.certs.LiveDevice(r.Context(), r.TLS.PeerCertificates)
	if err != nil {
		return "", err
	}
	return dev.DeviceID, nil
}

// countingWriter counts what a download sends.
type countingWriter struct {
	*caddyhttp.ResponseWriterWrapper
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriterWrapper.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriterWrapper.ReadFrom(r)
	w.bytes += n
	return n, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mdm_hub [<matcher>] {
//		root <directory>
//		require_client_certificate
//	}
//
// The request path is looked up under root; serve a prefix with handle_path
// (handle_path /hub/* { mdm_hub { root /srv/hub } }). The gate needs the
// site's client_auth with trust_pool mdm_device_ca.
func (h *Hub) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "root":
			if err := oneArg(d, &h.Root); err != nil {
				return err
			}
		case "require_client_certificate":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.RequireClientCertificate = true
		default:
			return d.Errf("mdm_hub: unknown option %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Hub)(nil)
	_ caddy.Validator             = (*Hub)(nil)
	_ caddyhttp.MiddlewareHandler = (*Hub)(nil)
	_ caddyfile.Unmarshaler       = (*Hub)(nil)
)
