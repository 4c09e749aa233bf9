// Package caddymdm is the Caddy layer of caddy-mdm: the `mdm` app (global
// option) that holds what the handlers share; the HTTP handlers
// mdm_discovery, mdm_xcep, mdm_wstep, mdm_omadm, mdm_hub and mdm_login (the
// federated login page); the
// mdm_device_ca trust pool; the admin API (admin.api.mdm); the `caddy mdm`
// commands; and their Caddyfile syntax. The protocols themselves live in
// internal/ packages that know nothing of Caddy.
package caddymdm

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/dump"
	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/profile"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

func init() {
	caddy.RegisterModule(App{})
}

// Standard paths of the services, as Windows expects them on
// enterpriseenrollment.<domain>.
const (
	DiscoveryPath  = "/EnrollmentServer/Discovery.svc"
	PolicyPath     = "/EnrollmentServer/Policy.svc"
	EnrollmentPath = "/EnrollmentServer/Enrollment.svc"
	ManagementPath = "/ManagementServer/MDM.svc"
)

// App is the `mdm` app: the MDM provider's identity, how enrollment is
// authenticated, the device CA, certificate and polling policy, and the
// storage of device state. The handlers find it through their context.
type App struct {
	// The provider ID (DMClient/Provider/<ID>, w7 PROVIDER-ID). Default: caddy-mdm.
	ProviderID string `json:"provider_id,omitempty"`
	// The name of the management account shown on the device. Default: the provider ID.
	DisplayName string `json:"display_name,omitempty"`
	// The external base URL of the services, e.g.
	// https://enterpriseenrollment.contoso.com. Default: https:// and the
	// host of each request.
	BaseURL string `json:"base_url,omitempty"`
	// The absolute URL of the enrollment policy service (MS-XCEP), as
	// Discovery announces it, for a handler mounted elsewhere. Default: the
	// base URL and /EnrollmentServer/Policy.svc.
	PolicyURL string `json:"policy_url,omitempty"`
	// The absolute URL of the enrollment service (MS-WSTEP), as Discovery
	// announces it. Default: the base URL and /EnrollmentServer/Enrollment.svc.
	EnrollmentURL string `json:"enrollment_url,omitempty"`
	// The absolute URL of the OMA-DM management service, as the provisioning
	// document gives it to the device. Default: the base URL and
	// /ManagementServer/MDM.svc.
	ManagementURL string `json:"management_url,omitempty"`

	// How enrolling users prove who they are.
	Auth *AuthConfig `json:"auth,omitempty"`
	// The CA that signs device certificates. Default: the `mdm` CA of
	// Caddy's pki app, created on first start if not configured.
	DeviceCA *DeviceCAConfig `json:"device_ca,omitempty"`

	// Lifetime of device certificates. Default: 365 days.
	CertificateValidity caddy.Duration `json:"certificate_validity,omitempty"`
	// How long before expiry a device certificate may be renewed (announced
	// in the policy and the provisioning document). Default: 42 days.
	RenewalPeriod caddy.Duration `json:"renewal_period,omitempty"`
	// How long a device waits between failed renewal attempts. Default: 4 days.
	RenewalRetryInterval caddy.Duration `json:"renewal_retry_interval,omitempty"`
	// Turns off automatic renewal (ROBO); devices then renew with the user's
	// credentials.
	DisableROBO bool `json:"disable_robo,omitempty"`
	// Smallest RSA key accepted in a CSR, in bits: 2048 to 4096. Default: 2048.
	MinKeyLength int `json:"min_key_length,omitempty"`
	// Highest EnrollmentVersion answered by discovery. Default: 4.0 (5.0
	// and later add TPM attestation, which the server does not implement).
	MaxEnrollmentVersion string `json:"max_enrollment_version,omitempty"`
	// Largest request body accepted, in bytes. Default: 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// How devices authenticate OMA-DM sessions: certificate (the TLS client
	// certificate issued at enrollment), digest (MD5 digest in SyncHdr), or
	// either (default).
	ManagementAuth string `json:"management_auth,omitempty"`
	// Largest server message when the device names no MaxMsgSize, in
	// bytes. Default: no limit.
	MaxMessageSize int `json:"max_message_size,omitempty"`
	// Largest object a device may send in chunks, in bytes. Default: 4 MiB.
	MaxObjectSize int `json:"max_object_size,omitempty"`

	// Keep the last N enrollment and management exchanges of every device,
	// secrets redacted, readable with `caddy mdm trace` and the admin API.
	// Default 0: off (each kept exchange costs a storage write). The same
	// exchanges are always logged at debug level.
	TraceExchanges int `json:"trace_exchanges,omitempty"`

	// A directory of configuration profiles (<name>.xml, targets in an
	// @mdm comment line), loaded at config load and applied when the app
	// starts, so a config reload applies changes. Default: none.
	ProfilesDir string `json:"profiles_dir,omitempty"`
	// A digest of profiles_dir's files, which the Caddyfile adapter
	// writes: Caddy skips a reload whose config is unchanged, so without
	// it an edited profile file would not make `caddy reload` reload. Not
	// read by the app. Default: none (with a JSON config, reload with
	// --force after editing the files).
	ProfilesDirDigest string `json:"profiles_dir_digest,omitempty"`

	// OMA-DM connection retries (w7 APPLICATION).
	Retry *RetryConfig `json:"retry,omitempty"`
	// DMClient poll schedule of Windows 10/11.
	Poll *PollConfig `json:"poll,omitempty"`
	// Windows Phone 8 settings.
	WindowsPhone8 *WP8Config `json:"windows_phone8,omitempty"`

	// Storage for device state. Default: Caddy's configured storage.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`

	service    *enroll.Service
	management *omadm.Server
	ca         *issuer.CA
	store      *store.Store
	logger     *zap.Logger
	// parseGate bounds the requests whose XML trees exist at once.
	parseGate   xmltree.Gate
	recorder    *dump.Recorder
	stopCleanup context.CancelFunc

	// certs decides whether a client certificate belongs to a live device:
	// OMA-DM, renewal and the hub gate share it.
	certs *certauth.Authority
	// dirProfiles are the profiles_dir files, validated (profilesdir.go).
	dirProfiles map[string]profile.PutRequest

	// deviceTLS is what the TLS modules register while provisioning
	// (resumption.go).
	deviceTLS *deviceTLS
}

// DefaultMaxBodySize bounds OMA-DM messages (a device's Results may be
// large); the enrollment endpoints have lower limits of their own.
const DefaultMaxBodySize = 1 << 20

// parsesPerCore sizes the parse gate: parsing is CPU-bound, so more parses
// at once than cores gain nothing and only add trees to memory.
const parsesPerCore = 2

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "mdm",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets up the device CA, the authenticator, the storage and the
// enrollment service.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.deviceTLS = new(deviceTLS)
	if a.ProviderID == "" {
		a.ProviderID = "caddy-mdm"
	}
	if a.CertificateValidity == 0 {
		a.CertificateValidity = caddy.Duration(365 * 24 * time.Hour)
	}
	if a.MaxBodySize == 0 {
		a.MaxBodySize = DefaultMaxBodySize
	}

	storage := ctx.Storage()
	if a.StorageRaw != nil {
		mod, err := ctx.LoadModule(a, "StorageRaw")
		if err != nil {
			return fmt.Errorf("loading mdm storage module: %v", err)
		}
		if storage, err = mod.(caddy.StorageConverter).CertMagicStorage(); err != nil {
			return fmt.Errorf("creating mdm storage: %v", err)
		}
	}
	a.store = store.New(clusterStorage(storage))

	if a.Auth == nil {
		return errors.New("mdm: no enrollment authentication configured: add an `auth` block (on_premise, federated, entra or certificate) to the mdm global option")
	}
	// Federated tokens keep their spent records (and, by default, their
	// secret) in the mdm storage, which every node of a cluster shares.
	a.Auth.fed.storage = storage
	auth, err := a.Auth.authenticator()
	if err != nil {
		return fmt.Errorf("mdm auth: %v", err)
	}
	ca, err := a.DeviceCA.load(ctx, a.logger)
	if err != nil {
		return fmt.Errorf("mdm device_ca: %v", err)
	}
	a.ca = ca
	a.certs = certauth.ForCA(ca, a.store, nil)
	wp8, err := a.WindowsPhone8.settings()
	if err != nil {
		return fmt.Errorf("mdm windows_phone8: %v", err)
	}

	a.service = &enroll.Service{
		ProviderID:           a.ProviderID,
		DisplayName:          a.DisplayName,
		Auth:                 auth,
		Issuer:               &issuer.Issuer{CA: ca, Validity: time.Duration(a.CertificateValidity)},
		Store:                a.store,
		Certs:                a.certs,
		MaxEnrollmentVersion: a.MaxEnrollmentVersion,
		MinKeyLength:         a.MinKeyLength,
		RenewalPeriod:        time.Duration(a.RenewalPeriod),
		RenewRetryInterval:   time.Duration(a.RenewalRetryInterval),
		DisableROBO:          a.DisableROBO,
		Retry:                a.Retry.retry(),
		Poll:                 a.Poll.poll(),
		WP8:                  wp8.mode,
		OmaDmRetry:           wp8.retry,
		EnterpriseApp:        wp8.app,
	}
	if err := a.service.Validate(); err != nil {
		return fmt.Errorf("mdm: %v", err)
	}
	if err := a.loadProfilesDir(); err != nil {
		return err
	}
	a.parseGate = xmltree.NewGate(max(4, parsesPerCore*runtime.GOMAXPROCS(0)))
	if a.TraceExchanges > 0 {
		a.recorder = &dump.Recorder{Store: a.store, Keep: a.TraceExchanges, Now: time.Now}
	}
	a.management = &omadm.Server{
		ParseGate:     a.parseGate,
		Store:         a.store,
		ProviderID:    a.ProviderID,
		Auth:          omadm.AuthMode(a.ManagementAuth),
		Roots:         a.DeviceCAPool(),
		Intermediates: ca.Intermediates,
		Certs:         a.certs,
		MaxMsgSize:    a.MaxMessageSize,
		MaxObjectSize: a.MaxObjectSize,
	}
	if a.recorder != nil {
		a.management.Recorder = a.recorder
	}
	// The services report to the metrics on Caddy's registry (metrics.go).
	metrics, err := metricsOn(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("mdm metrics: %v", err)
	}
	a.service.Events, a.management.Events = metrics, metrics
	a.management.UserTokens = a.Auth.userTokenVerifier()
	if err := a.management.Validate(); err != nil {
		return fmt.Errorf("mdm: %v", err)
	}
	a.logger.Info("mdm app ready",
		zap.String("provider_id", a.ProviderID),
		zap.String("auth_policy", string(auth.Policy())),
		zap.String("device_ca_root", ca.Root.Subject.String()),
		zap.String("device_ca_root_thumbprint", issuer.Thumbprint(ca.Root)),
		zap.String("device_ca_signer", ca.Signer.Subject.String()))
	return nil
}

// Validate checks settings that need no provisioning.
func (a *App) Validate() error {
	if a.BaseURL != "" && !strings.HasPrefix(a.BaseURL, "https://") {
		return fmt.Errorf("mdm base_url %q: Windows only enrolls over HTTPS", a.BaseURL)
	}
	if a.MaxBodySize < 0 {
		return errors.New("mdm max_body_size must be positive")
	}
	if a.TraceExchanges < 0 || a.TraceExchanges > 1000 {
		return errors.New("mdm trace_exchanges must be 0 to 1000")
	}
	return nil
}

// leftoverMinAge spares temporary files younger than this at the start
// cleanup: they may be another node's write in progress.
const leftoverMinAge = time.Minute

// idleFlushInterval is how often the last-seen state of sessions that
// ended quietly is written (and so how stale it may be on another node).
const idleFlushInterval = 30 * time.Second

// Start implements caddy.App: it removes, in the background, temporary
// files a killed process left in file storage, and writes the state of
// quietly ended sessions every idleFlushInterval.
func (a *App) Start() error {
	if err := a.syncProfilesDir(context.Background()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopCleanup = cancel
	go every(ctx, idleFlushInterval, func() {
		if err := a.management.FlushIdle(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("writing the state of ended sessions", zap.Error(err))
		}
	})
	go a.runHeartbeat(ctx)
	go a.ensureIndex(ctx)
	if keys := a.currentTicketKeys(); keys != nil {
		go every(ctx, ticketKeyRotationCheck, func() { a.rotateTicketKeys(ctx, keys) })
	}
	go func() {
		n, err := a.store.RemoveLeftovers(ctx, leftoverMinAge)
		switch {
		case err != nil && ctx.Err() == nil:
			a.logger.Error("removing leftover temporary files from storage", zap.Error(err))
		case n > 0:
			a.logger.Info("removed temporary files a stopped process left in storage", zap.Int("files", n))
		}
	}()
	return nil
}

// every runs fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Stop implements caddy.App.
func (a *App) Stop() error {
	if a.stopCleanup != nil {
		a.stopCleanup()
	}
	if err := a.management.FlushIdle(context.Background()); err != nil {
		a.logger.Error("writing the state of ended sessions at shutdown", zap.Error(err))
	}
	return nil
}

// endpoints returns the service URLs for a request: the configured base URL,
// or https:// and the host the device used.
func (a *App) endpoints(r *http.Request) enroll.Endpoints {
	base := strings.TrimRight(a.BaseURL, "/")
	if base == "" {
		base = "https://" + r.Host
	}
	pick := func(override, path string) string {
		if override != "" {
			return override
		}
		return base + path
	}
	return enroll.Endpoints{
		Discovery:  base + DiscoveryPath,
		Policy:     pick(a.PolicyURL, PolicyPath),
		Enrollment: pick(a.EnrollmentURL, EnrollmentPath),
		Management: pick(a.ManagementURL, ManagementPath),
	}
}

// Store returns the device store.
func (a *App) Store() *store.Store { return a.store }

// DeviceCAPool is a pool holding the device CA root: what device client
// certificates must chain to.
func (a *App) DeviceCAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.ca.Root)
	return pool
}

// RetryConfig is the w7 APPLICATION connection retry policy.
type RetryConfig struct {
	// How many times a failed connection is retried. Default: 6.
	Count int `json:"count,omitempty"`
	// First wait between retries. Default: 30s.
	InitialBackoff caddy.Duration `json:"initial_backoff,omitempty"`
	// Longest wait between retries. Default: 2m.
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`
}

func (c *RetryConfig) retry() provdoc.Retry {
	r := enroll.DefaultRetry
	if c == nil {
		return r
	}
	if c.Count > 0 {
		r.ConnRetryFreq = c.Count
	}
	if c.InitialBackoff > 0 {
		r.InitialBackoffMS = int(time.Duration(c.InitialBackoff).Milliseconds())
	}
	if c.MaxBackoff > 0 {
		r.MaxBackoffMS = int(time.Duration(c.MaxBackoff).Milliseconds())
	}
	return r
}

// PollConfig is the DMClient poll schedule: a first and second set of
// polls, then the remaining polls (0 retries means forever).
type PollConfig struct {
	// How many polls the first set has (NumberOfFirstRetries). Default: 5.
	FirstRetries int `json:"first_retries,omitempty"`
	// The wait between polls of the first set, in whole minutes (at least 1;
	// IntervalForFirstSetOfRetries). Default: 3 minutes.
	FirstInterval caddy.Duration `json:"first_interval,omitempty"`
	// How many polls the second set has (NumberOfSecondRetries). Default: 8.
	SecondRetries int `json:"second_retries,omitempty"`
	// The wait between polls of the second set, in whole minutes (at least
	// 1; IntervalForSecondSetOfRetries). Default: 15 minutes.
	SecondInterval caddy.Duration `json:"second_interval,omitempty"`
	// How many polls follow the second set
	// (NumberOfRemainingScheduledRetries). Default: 0, which polls forever.
	RemainingRetries int `json:"remaining_retries,omitempty"`
	// The wait between the remaining polls, in whole minutes (at least 1;
	// IntervalForRemainingScheduledRetries). Default: 480 minutes (8 hours).
	RemainingInterval caddy.Duration `json:"remaining_interval,omitempty"`
	// Whether the device polls when a user logs in. Default: true.
	OnLogin *bool `json:"on_login,omitempty"`
}

func (c *PollConfig) poll() provdoc.Poll {
	p := enroll.DefaultPoll
	if c == nil {
		return p
	}
	minutes := func(d caddy.Duration, def int) int {
		if d <= 0 {
			return def
		}
		return max(1, int(time.Duration(d)/time.Minute))
	}
	count := func(n, def int) int {
		if n <= 0 {
			return def
		}
		return n
	}
	p.NumberOfFirstRetries = count(c.FirstRetries, p.NumberOfFirstRetries)
	p.IntervalForFirstSetOfRetries = minutes(c.FirstInterval, p.IntervalForFirstSetOfRetries)
	p.NumberOfSecondRetries = count(c.SecondRetries, p.NumberOfSecondRetries)
	p.IntervalForSecondSetOfRetries = minutes(c.SecondInterval, p.IntervalForSecondSetOfRetries)
	p.NumberOfRemainingScheduledRetries = count(c.RemainingRetries, p.NumberOfRemainingScheduledRetries)
	p.IntervalForRemainingScheduledRetries = minutes(c.RemainingInterval, p.IntervalForRemainingScheduledRetries)
	if c.OnLogin != nil {
		p.PollOnLogin = *c.OnLogin
	}
	return p
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Validator   = (*App)(nil)
)
