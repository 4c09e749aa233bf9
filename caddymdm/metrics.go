package caddymdm

import (
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
)

// mdmMetrics are the services' Prometheus metrics; they implement
// events.Observer, which the enrollment, management and lifecycle services
// report to (README, "Metrics").
//
// One set lives for the whole process and is registered on the registry
// of every config Caddy loads (ctx.GetMetricsRegistry(); each load has a
// fresh one): a config reload keeps the counters counting and the gauges
// (queue depth, profile states), which count transitions, right. A
// collector may sit in several registries, and register() accepts it
// twice on one.
type mdmMetrics struct {
	enrollments    *prometheus.CounterVec
	renewals       *prometheus.CounterVec
	policyRequests *prometheus.CounterVec
	sessions       *prometheus.CounterVec
	messages       *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	commands       *prometheus.CounterVec
	queueDepth     prometheus.Gauge
	profileStates  *prometheus.GaugeVec
	profileChanges *prometheus.CounterVec
	duration       *prometheus.HistogramVec

	// labels bounds the label values of every other metric; profileLabels
	// the profile states'.
	labels, profileLabels boundedLabels
}

var (
	processMetrics     *mdmMetrics
	processMetricsOnce sync.Once
)

// metricsOn returns the process's metrics, registered on reg.
func metricsOn(reg prometheus.Registerer) (*mdmMetrics, error) {
	processMetricsOnce.Do(func() { processMetrics = newMDMMetrics() })
	m := processMetrics
	for _, c := range m.collectors() {
		if err := register(reg, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// durationBuckets span an OMA-DM message (a few ms) to an enrollment
// waiting for a password hash under load (seconds).
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMDMMetrics() *mdmMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "caddy", Subsystem: "mdm", Name: name, Help: help}, labels)
	}
	m := &mdmMetrics{
		enrollments: counter("enrollments_total",
			"Enrollment requests (RequestSecurityToken Issue) answered, by result (ok or the MS-MDE2 fault, lower-cased) and the configured auth policy.",
			"result", "auth_policy"),
		renewals: counter("renewals_total",
			"Certificate renewal requests (RequestSecurityToken Renew, Recovery) answered, by result (ok or the fault, e.g. noteligibletorenew).",
			"result"),
		policyRequests: counter("policy_requests_total",
			"GetPolicies requests answered, by result (ok or the fault).",
			"result"),
		sessions: counter("management_sessions_total",
			"OMA-DM sessions: an authenticated first message of a session counts once (result authenticated); every challenged, refused or failed message counts too.",
			"result", "auth"),
		messages: counter("management_messages_total",
			"OMA-DM messages answered, by result (authenticated, challenged, refused, error) and auth method (certificate, digest, none).",
			"result", "auth"),
		authFailures: counter("auth_failures_total",
			"Refused credentials, by service (enrollment, management) and reason (invalid_credentials, missing_credentials, rate_limited, not_owner, certificate, device_state, session_token).",
			"service", "reason"),
		commands: counter("commands_total",
			"Management commands entering a state: queued, sent (each message carrying one), acknowledged (final status from the device), canceled.",
			"state"),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "caddy", Subsystem: "mdm", Name: "queue_depth",
			Help: "Commands pending (queued or sent, not yet acknowledged or canceled), counted from this process's transitions since it started."}),
		profileStates: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "caddy", Subsystem: "mdm", Name: "profile_states",
			Help: "Device profiles per state (pending, sent, applied, failed, drifted, removing, removed), counted from this process's transitions since it started."},
			[]string{"state"}),
		profileChanges: counter("profile_transitions_total",
			"Device profiles entering a state.",
			"state"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "caddy", Subsystem: "mdm", Name: "request_duration_seconds",
			Help:    "Time to answer a request, by service (discovery, policy, enrollment, renewal, management).",
			Buckets: durationBuckets}, []string{"service"}),
		labels:        boundedLabels{max: maxLabelValues},
		profileLabels: boundedLabels{max: maxProfileStates},
	}
	return m
}

func (m *mdmMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.enrollments, m.renewals, m.policyRequests, m.sessions, m.messages,
		m.authFailures, m.commands, m.queueDepth, m.profileStates, m.profileChanges, m.duration}
}

// Enrollment implements events.Observer.
func (m *mdmMetrics) Enrollment(e events.Enrollment) {
	result := m.labels.get(e.Result)
	service := "enrollment"
	switch e.Op {
	case events.OpDiscovery:
		service = "discovery"
	case events.OpPolicy:
		service = "policy"
		m.policyRequests.WithLabelValues(result).Inc()
	case events.OpRenew:
		service = "renewal"
		m.renewals.WithLabelValues(result).Inc()
	default:
		m.enrollments.WithLabelValues(result, m.labels.get(e.Policy)).Inc()
	}
	m.duration.WithLabelValues(service).Observe(e.Duration.Seconds())
}

// Management implements events.Observer.
func (m *mdmMetrics) Management(e events.Management) {
	auth := e.Auth
	if auth == "" {
		auth = "none"
	}
	result, auth := m.labels.get(e.Result), label(auth)
	m.messages.WithLabelValues(result, auth).Inc()
	if e.Result != events.MgmtAuthenticated || e.NewSession {
		m.sessions.WithLabelValues(result, auth).Inc()
	}
	m.duration.WithLabelValues("management").Observe(e.Duration.Seconds())
}

// AuthFailure implements events.Observer.
func (m *mdmMetrics) AuthFailure(e events.AuthFailure) {
	m.authFailures.WithLabelValues(m.labels.get(e.Service), m.labels.get(e.Reason)).Inc()
}

// Commands implements events.Observer.
func (m *mdmMetrics) Commands(c events.CommandChange) {
	for state, n := range map[string]int{"queued": c.Queued, "sent": c.Sent, "acknowledged": c.Acknowledged, "canceled": c.Canceled} {
		if n > 0 {
			m.commands.WithLabelValues(state).Add(float64(n))
		}
	}
	m.queueDepth.Add(float64(c.Queued - c.Acknowledged - c.Canceled))
}

// ProfileState implements events.Observer.
func (m *mdmMetrics) ProfileState(c events.ProfileChange) {
	if c.From == c.To {
		return
	}
	if c.From != "" {
		m.profileStates.WithLabelValues(m.profileLabels.get(c.From)).Dec()
	}
	if c.To != "" {
		to := m.profileLabels.get(c.To)
		m.profileStates.WithLabelValues(to).Inc()
		m.profileChanges.WithLabelValues(to).Inc()
	}
}

// Bounds of distinct label values: the services' fixed sets hold about
// thirty (results, reasons, auth methods and policies); the profile
// package has seven states.
const (
	maxLabelValues   = 64
	maxProfileStates = 16
)

// labelShape is what a label value from a service may look like; anything
// else is reported as "other".
var labelShape = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// label passes a value from one of the services' fixed sets, and turns
// anything unexpected into "other" so that no label can grow without
// bound.
func label(v string) string {
	if labelShape.MatchString(v) || v == "OnPremise" || v == "Federated" || v == "Certificate" {
		return v
	}
	return "other"
}

// boundedLabels admits at most max distinct label values; later new ones
// become "other".
type boundedLabels struct {
	mu   sync.Mutex
	seen map[string]bool
	max  int
}

func (b *boundedLabels) get(v string) string {
	if v == "" {
		return "none"
	}
	v = label(v)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if !b.seen[v] {
		if len(b.seen) >= b.max {
			return "other"
		}
		b.seen[v] = true
	}
	return v
}

var _ events.Observer = (*mdmMetrics)(nil)
