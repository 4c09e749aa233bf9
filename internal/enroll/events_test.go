package enroll

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/events"
)

// enrollObserver records enrollment events.
type enrollObserver struct {
	events.Nop
	enrollments []events.Enrollment
	failures    []events.AuthFailure
}

func (o *enrollObserver) Enrollment(e events.Enrollment)   { o.enrollments = append(o.enrollments, e) }
func (o *enrollObserver) AuthFailure(e events.AuthFailure) { o.failures = append(o.failures, e) }

// TestEventsOfEnrollment: each answered request is reported with its
// operation, result and policy; refused credentials as failures with
// their reason. Real captured requests throughout.
func TestEventsOfEnrollment(t *testing.T) {
	s := newTestService(t, "ecdsa")
	o := &enrollObserver{}
	s.Events = o
	last := func() events.Enrollment { return o.enrollments[len(o.enrollments)-1] }

	if _, _, err := s.Discover(parseEnvelope(t, capture.Read(t, "a-discovery-request.xml")), testEndpoints); err != nil {
		t.Fatal(err)
	}
	if e := last(); e.Op != events.OpDiscovery || e.Result != events.ResultOK || e.Policy != "OnPremise" || e.Duration <= 0 {
		t.Errorf("discovery: %+v", e)
	}

	policy := parseEnvelope(t, capture.Read(t, "a-policy-request.xml"))
	if _, _, err := s.GetPolicies(context.Background(), policy, CredentialsFrom(policy, nil)); err != nil {
		t.Fatal(err)
	}
	if e := last(); e.Op != events.OpPolicy || e.Result != events.ResultOK {
		t.Errorf("policy: %+v", e)
	}

	wrong := strings.Replace(string(capture.Read(t, "a-enroll-request.xml")), `#PasswordText">demo<`, `#PasswordText">wrong<`, 1)
	if _, _, err := s.enroll(t, []byte(wrong)); err == nil {
		t.Fatal("a wrong password enrolled")
	}
	if e := last(); e.Op != events.OpEnroll || e.Result != "authentication" || e.Policy != "OnPremise" {
		t.Errorf("wrong password: %+v", e)
	}
	if len(o.failures) != 1 || o.failures[0] != (events.AuthFailure{Service: events.ServiceEnrollment, Reason: events.ReasonInvalidCredentials}) {
		t.Errorf("failures: %+v", o.failures)
	}

	if _, _, err := s.enroll(t, capture.Read(t, "a-enroll-request.xml")); err != nil {
		t.Fatal(err)
	}
	if e := last(); e.Op != events.OpEnroll || e.Result != events.ResultOK {
		t.Errorf("enrollment: %+v", e)
	}
	// Device B is the same hardware (a clone) under another user: the live
	// device is not taken over.
	if _, _, err := s.enroll(t, capture.Read(t, "b-enroll-request.xml")); err == nil {
		t.Fatal("another user took the device over")
	}
	if e, f := last(), o.failures[len(o.failures)-1]; e.Result != "authorization" || f.Reason != events.ReasonNotOwner {
		t.Errorf("not the owner: %+v %+v", e, f)
	}
	recovery := strings.Replace(string(capture.Read(t, "a-enroll-request.xml")), "200512/Issue", "200512/Recovery", 1)
	if _, _, err := s.enroll(t, []byte(recovery)); err == nil {
		t.Fatal("recovery accepted")
	}
	if e := last(); e.Op != events.OpRenew || e.Result != "noteligibletorenew" {
		t.Errorf("recovery: %+v", e)
	}
	if len(o.failures) != 2 {
		t.Errorf("failures: %+v", o.failures)
	}
}

// TestEventsOfRateLimit: a check refused for too many failures is a
// rate_limited failure.
func TestEventsOfRateLimit(t *testing.T) {
	s := newTestService(t, "ecdsa")
	o := &enrollObserver{}
	s.Events = o
	s.Auth.(*PasswordAuth).LimitFailures(FailureLimits{PerUserBurst: 1, PerUserEvery: time.Hour})
	wrong := []byte(strings.Replace(string(capture.Read(t, "a-enroll-request.xml")), `#PasswordText">demo<`, `#PasswordText">wrong<`, 1))
	for range 2 {
		if _, _, err := s.enroll(t, wrong); err == nil {
			t.Fatal("a wrong password enrolled")
		}
	}
	if len(o.failures) != 2 || o.failures[0].Reason != events.ReasonInvalidCredentials || o.failures[1].Reason != events.ReasonRateLimited {
		t.Errorf("failures: %+v", o.failures)
	}
}
