package caddymdm

import (
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// appHandler is what every MDM handler module holds: the mdm app it serves
// and its logger. The handlers embed it and share its Provision.
type appHandler struct {
	app    *App
	logger *zap.Logger
}

// Provision finds the mdm app.
func (h *appHandler) Provision(ctx caddy.Context) (err error) {
	h.logger = ctx.Logger()
	h.app, err = appFrom(ctx)
	return err
}

// writeBody answers with a whole body and its exact Content-Length: a
// device reads what it is sent as-is, never chunked. deviceReads adds
// Cache-Control no-transform, which keeps Caddy's encode handler (and
// proxies) from compressing or chunking it.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte, deviceReads bool) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if deviceReads {
		h.Set("Cache-Control", "no-store, no-transform")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
