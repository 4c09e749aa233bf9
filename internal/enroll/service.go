package enroll

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// Endpoints are the absolute URLs of the services, as the device must call
// them. They depend on the host a request came to, so each call is given them.
type Endpoints struct {
	Discovery, Policy, Enrollment, Management string
	// Authentication is the server's own login page, the
	// AuthenticationServiceUrl of a Federated policy that configures none.
	Authentication string
}

// WP8Mode says when a device gets the Windows Phone 8 provisioning document.
type WP8Mode string

// Windows Phone 8 modes.
const (
	WP8Auto   WP8Mode = "auto"
	WP8Always WP8Mode = "always"
	WP8Never  WP8Mode = "never"
)

// Service holds the settings and parts the enrollment services share.
type Service struct {
	ProviderID  string
	DisplayName string
	Auth        Authenticator
	Issuer      *issuer.Issuer
	Store       *store.Store
	// Certs decides whether a certificate belongs to a live device (ROBO
	// renewal, a renewing device's policy request, the re-enrollment
	// ownership proof). Validate makes one over Issuer.CA, Store and Now
	// when nil.
	Certs *certauth.Authority

	// MaxEnrollmentVersion is the highest EnrollmentVersion answered, as
	// "major.minor".
	MaxEnrollmentVersion string
	// MinKeyLength is the smallest RSA modulus accepted, in bits, from 2048
	// to 4096 (RSA keys over 4096 bits are refused; ECDSA keys must be on
	// P-256 or P-384).
	MinKeyLength int
	// RenewalPeriod is how long before expiry a certificate may be renewed,
	// announced in the policy and the provisioning document.
	RenewalPeriod time.Duration
	// RenewRetryInterval is how long a device waits between failed renewal
	// attempts (whole days on the wire).
	RenewRetryInterval time.Duration
	// DisableROBO turns off automatic renewal (Renew On Behalf Of): devices
	// then renew only when a user provides credentials.
	DisableROBO bool

	Retry      provdoc.Retry
	Poll       provdoc.Poll
	WP8        WP8Mode
	OmaDmRetry provdoc.OmaDmRetry
	// EnterpriseApp is the Windows Phone 8 company hub enrollment; nil when
	// no enterprise token is configured (P10).
	EnterpriseApp *provdoc.EnterpriseApp

	// Events, when set, is told of every answered policy and token request
	// and of refused credentials (metrics).
	Events events.Observer

	Now  func() time.Time
	Rand io.Reader
}

// Defaults for the settings a Service needs.
var (
	DefaultRetry = provdoc.Retry{ConnRetryFreq: 6, InitialBackoffMS: 30000, MaxBackoffMS: 120000}
	DefaultPoll  = provdoc.Poll{
		IntervalForFirstSetOfRetries: 3, NumberOfFirstRetries: 5,
		IntervalForSecondSetOfRetries: 15, NumberOfSecondRetries: 8,
		IntervalForRemainingScheduledRetries: 480, NumberOfRemainingScheduledRetries: 0,
		PollOnLogin: true,
	}
	DefaultOmaDmRetry = provdoc.OmaDmRetry{
		NumRetries: 8, RetryInterval: 15,
		AuxNumRetries: 10, AuxRetryInterval: 15,
		Aux2NumRetries: 0, Aux2RetryInterval: 480,
	}
)

// Default values of scalar settings.
const (
	// DefaultMaxEnrollmentVersion is 4.0: what servers real PCs enrolled
	// with answered (Fleet's dump, Fleet production); 5.0 and later only
	// add TPM attestation items this server does not implement.
	DefaultMaxEnrollmentVersion = "4.0"
	DefaultMinKeyLength         = 2048
	DefaultRenewalPeriod        = 42 * 24 * time.Hour
	DefaultRenewRetryInterval   = 4 * 24 * time.Hour
)

// Validate fills defaults and checks that the service can run.
func (s *Service) Validate() error {
	var errs []error
	if s.ProviderID == "" {
		errs = append(errs, errors.New("provider ID is required"))
	}
	if s.Auth == nil || s.Issuer == nil || s.Issuer.CA == nil || s.Store == nil {
		errs = append(errs, errors.New("authenticator, issuer and store are required"))
	}
	if s.DisplayName == "" {
		s.DisplayName = s.ProviderID
	}
	if s.MaxEnrollmentVersion == "" {
		s.MaxEnrollmentVersion = DefaultMaxEnrollmentVersion
	}
	if _, err := parseVersion(s.MaxEnrollmentVersion); err != nil {
		errs = append(errs, fmt.Errorf("max enrollment version: %v", err))
	}
	if s.MinKeyLength == 0 {
		s.MinKeyLength = DefaultMinKeyLength
	}
	if s.MinKeyLength < pkcs10.MinRSABits || s.MinKeyLength > pkcs10.MaxRSABits {
		errs = append(errs, fmt.Errorf("minimal key length %d: RSA keys of %d to %d bits are accepted", s.MinKeyLength, pkcs10.MinRSABits, pkcs10.MaxRSABits))
	}
	if s.RenewalPeriod == 0 {
		s.RenewalPeriod = DefaultRenewalPeriod
	}
	if s.RenewRetryInterval == 0 {
		s.RenewRetryInterval = DefaultRenewRetryInterval
	}
	if s.RenewalPeriod < 24*time.Hour || s.RenewRetryInterval < 24*time.Hour {
		errs = append(errs, errors.New("renewal period and renewal retry interval are whole days on the wire: at least 1d"))
	}
	if s.Issuer != nil && s.Issuer.Validity > 0 && s.RenewalPeriod >= s.Issuer.Validity {
		errs = append(errs, fmt.Errorf("renewal period %v must be shorter than the certificate validity %v", s.RenewalPeriod, s.Issuer.Validity))
	}
	if s.Retry == (provdoc.Retry{}) {
		s.Retry = DefaultRetry
	}
	if s.Poll == (provdoc.Poll{}) {
		s.Poll = DefaultPoll
	}
	if s.OmaDmRetry == (provdoc.OmaDmRetry{}) {
		s.OmaDmRetry = DefaultOmaDmRetry
	}
	if s.OmaDmRetry.AuxNumRetries <= 0 || s.OmaDmRetry.AuxRetryInterval <= 0 {
		errs = append(errs, errors.New("OmaDmRetry AuxNumRetries and AuxRetryInterval must be > 0, or Windows Phone 8 never starts its first session"))
	}
	switch s.WP8 {
	case "":
		s.WP8 = WP8Auto
	case WP8Auto, WP8Always, WP8Never:
	default:
		errs = append(errs, fmt.Errorf("windows phone 8 mode %q: want auto, always or never", s.WP8))
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Rand == nil {
		s.Rand = rand.Reader
	}
	if s.Certs == nil && s.Issuer != nil && s.Issuer.CA != nil && s.Store != nil {
		// The service's clock, read at each check (tests move it).
		s.Certs = certauth.ForCA(s.Issuer.CA, s.Store, func() time.Time { return s.Now() })
	}
	return errors.Join(errs...)
}
