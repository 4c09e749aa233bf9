package caddymdm

import (
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
