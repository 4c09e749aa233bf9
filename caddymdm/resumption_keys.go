package caddymdm

import (
	"context"
	"crypto/x509"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/tlsresume"
)

// ticketKeyPrefix names the stored ticket key of each period, shared by
// every node so that a device resumes on any of them.
const ticketKeyPrefix = "tls-ticket-keys/"

// ticketKeyRotationCheck is how often a node looks whether the key period
// has turned.
const ticketKeyRotationCheck = time.Minute

// ticketKeyStore keeps ticket keys as server secrets in the mdm storage.
type ticketKeyStore struct{ store *store.Store }

func (k ticketKeyStore) PeriodKey(ctx context.Context, period int64, create bool) ([]byte, error) {
	name := ticketKeyPrefix + strconv.FormatInt(period, 10)
	if create {
		return k.store.Secret(ctx, name)
	}
	return k.store.ExistingSecret(ctx, name)
}

func (k ticketKeyStore) DropPeriodKey(ctx context.Context, period int64) error {
	return k.store.DeleteSecret(ctx, ticketKeyPrefix+strconv.FormatInt(period, 10))
}

// deviceTLS is what mdm_device_ca and mdm_session_resumption share in one
// config: the pools mdm_device_ca handed to TLS connection policies, and
// the ticket keys.
type deviceTLS struct {
	mu    sync.Mutex
	pools map[*x509.CertPool]bool
	keys  *tlsresume.Keys
	// rotationFailing is set from the first failed rotation to the next
	// success (only the rotation loop reads and writes it).
	rotationFailing bool
}

// registerDevicePool records a pool mdm_device_ca handed to a TLS
// connection policy, and whether that policy may resume sessions.
func (a *App) registerDevicePool(pool *x509.CertPool, resumes bool) {
	a.deviceTLS.mu.Lock()
	defer a.deviceTLS.mu.Unlock()
	if a.deviceTLS.pools == nil {
		a.deviceTLS.pools = map[*x509.CertPool]bool{}
	}
	a.deviceTLS.pools[pool] = resumes
}

// devicePoolResumes reports whether pool came from mdm_device_ca (known)
// and whether its policy may resume sessions.
func (a *App) devicePoolResumes(pool *x509.CertPool) (resumes, known bool) {
	a.deviceTLS.mu.Lock()
	defer a.deviceTLS.mu.Unlock()
	resumes, known = a.deviceTLS.pools[pool]
	return resumes, known
}

// sessionTicketKeys returns the ticket keys of this config, loading them
// from storage the first time.
func (a *App) sessionTicketKeys(ctx context.Context) (*tlsresume.Keys, error) {
	a.deviceTLS.mu.Lock()
	defer a.deviceTLS.mu.Unlock()
	if a.deviceTLS.keys != nil {
		return a.deviceTLS.keys, nil
	}
	keys := tlsresume.NewKeys(ticketKeyStore{a.store}, nil)
	if err := a.turnTicketKeys(ctx, keys); err != nil {
		return nil, err
	}
	a.deviceTLS.keys = keys
	return keys, nil
}

// turnTicketKeys loads the current period's keys, within 30 s. An older
// key that could not be read or deleted is only logged: the period's keys
// are in use. The error says they could not be loaded.
func (a *App) turnTicketKeys(ctx context.Context, keys *tlsresume.Keys) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := keys.Rotate(rctx)
	if err != nil && !keys.Due() {
		a.logger.Warn("TLS session ticket keys loaded, but not every older key could be read or deleted", zap.Error(err))
		return nil
	}
	return err
}

// rotateTicketKeys turns the ticket keys over if their period has turned.
// A failed rotation keeps the keys in use for one more period (then no
// session resumes until a rotation succeeds); the next check, a minute
// later, retries it. The first failure is an error, the retries debug
// lines, the recovery an info line.
func (a *App) rotateTicketKeys(ctx context.Context, keys *tlsresume.Keys) {
	if !keys.Due() {
		return
	}
	err := a.turnTicketKeys(ctx, keys)
	switch {
	case ctx.Err() != nil:
	case err != nil && !a.deviceTLS.rotationFailing:
		a.deviceTLS.rotationFailing = true
		a.logger.Error("rotating TLS session ticket keys failed; retrying every minute, and devices stop resuming TLS sessions if it fails for more than a key period",
			zap.Duration("key_period", tlsresume.KeyPeriod), zap.Error(err))
	case err != nil:
		a.logger.Debug("rotating TLS session ticket keys failed again", zap.Error(err))
	case a.deviceTLS.rotationFailing:
		a.deviceTLS.rotationFailing = false
		a.logger.Info("TLS session ticket keys rotated again")
	}
}

// currentTicketKeys is the ticket keys, if a policy resumes sessions.
func (a *App) currentTicketKeys() *tlsresume.Keys {
	a.deviceTLS.mu.Lock()
	defer a.deviceTLS.mu.Unlock()
	return a.deviceTLS.keys
}
