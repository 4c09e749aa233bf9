package caddymdm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
)

// TestMetricsSurviveReload registers the metrics as two config loads do
// (each on its own pedantic registry, as Caddy's contexts make them, and
// twice on one): no error, and the second registry sees what was counted
// before it, the queue depth included.
func TestMetricsSurviveReload(t *testing.T) {
	first := prometheus.NewPedanticRegistry()
	m, err := metricsOn(first)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := metricsOn(first); err != nil || again != m {
		t.Fatalf("registering twice on one registry: %v", err)
	}
	before := value(t, m.queueDepth)
	m.Commands(events.CommandChange{Queued: 3})
	m.Commands(events.CommandChange{Sent: 2, Acknowledged: 1})

	second := prometheus.NewPedanticRegistry()
	if m2, err := metricsOn(second); err != nil || m2 != m {
		t.Fatalf("after a reload: %v", err)
	}
	if got := value(t, m.queueDepth) - before; got != 2 {
		t.Errorf("queue depth moved by %v, want 2", got)
	}
	n := 0
	families, err := second.Gather()
	for _, mf := range families {
		if mf.GetName() == "caddy_mdm_queue_depth" || mf.GetName() == "caddy_mdm_commands_total" {
			n += len(mf.GetMetric())
		}
	}
	if err != nil || n < 3 {
		t.Errorf("the second registry gathers %d series: %v", n, err)
	}
	// The pedantic registry checks every collector's consistency.
	m.Enrollment(events.Enrollment{Op: events.OpEnroll, Result: "ok", Policy: "OnPremise", Duration: time.Millisecond})
	m.Management(events.Management{Result: events.MgmtAuthenticated, Auth: "certificate", NewSession: true, Duration: time.Millisecond})
	m.AuthFailure(events.AuthFailure{Service: events.ServiceEnrollment, Reason: events.ReasonRateLimited})
	if _, err := second.Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestHubMetricsSurviveReload: the hub's counters are the process's too; a
// second config's registry sees what the first counted.
func TestHubMetricsSurviveReload(t *testing.T) {
	first := prometheus.NewPedanticRegistry()
	m, err := hubMetricsOn(first)
	if err != nil {
		t.Fatal(err)
	}
	before := value(t, m.refused)
	m.refused.Inc()
	second := prometheus.NewPedanticRegistry()
	m2, err := hubMetricsOn(second)
	if err != nil || m2 != m {
		t.Fatalf("after a reload: %v", err)
	}
	families, err := second.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "caddy_mdm_hub_refused_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != before+1 {
				t.Errorf("refused after a reload: %v, want %v", got, before+1)
			}
			return
		}
	}
	t.Error("the second registry has no caddy_mdm_hub_refused_total")
}

// TestMetricLabelsBounded: whatever a service passes, label values stay
// few and shaped; profile states beyond the budget become "other".
func TestMetricLabelsBounded(t *testing.T) {
	m := newMDMMetrics()
	for i := range 100 {
		m.ProfileState(events.ProfileChange{To: fmt.Sprintf("state_%d", i)})
		m.AuthFailure(events.AuthFailure{Service: "management", Reason: fmt.Sprintf("reason_%d", i)})
	}
	m.AuthFailure(events.AuthFailure{Service: "management", Reason: "1E08C6E95D8BB843B1278FF45BC60CC6"})
	m.AuthFailure(events.AuthFailure{Service: "management", Reason: "demo@contoso.com"})
	if n := count(t, m.profileStates); n > maxProfileStates+1 {
		t.Errorf("%d profile state series", n)
	}
	if n := count(t, m.authFailures); n > maxLabelValues+1 {
		t.Errorf("%d auth failure series", n)
	}
	if got := value(t, m.authFailures.WithLabelValues("management", "other")); got < 2 {
		t.Errorf("device IDs and user names not turned into other: %v", got)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.authFailures)
	out, _ := reg.Gather()
	for _, mf := range out {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), "@") || strings.Contains(l.GetValue(), "1E08C6") {
					t.Errorf("label %s=%s", l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestProfileStateGauge: a device's profile moving pending→sent→applied
// counts once, in its current state.
func TestProfileStateGauge(t *testing.T) {
	m := newMDMMetrics()
	m.ProfileState(events.ProfileChange{To: "sent"})
	m.ProfileState(events.ProfileChange{From: "sent", To: "applied"})
	m.ProfileState(events.ProfileChange{From: "applied", To: "applied"})
	if s, a := value(t, m.profileStates.WithLabelValues("sent")), value(t, m.profileStates.WithLabelValues("applied")); s != 0 || a != 1 {
		t.Errorf("sent %v applied %v", s, a)
	}
	if n := value(t, m.profileChanges.WithLabelValues("applied")); n != 1 {
		t.Errorf("transitions to applied: %v", n)
	}
}

// value reads the one series of a collector (a counter or gauge, or one
// child of a vector).
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// count is the number of series a collector has.
func count(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
