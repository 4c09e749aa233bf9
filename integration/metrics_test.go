package integration

import (
	"bufio"
	"bytes"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metricValue sums the samples of a metric whose labels include all of
// want ("name" alone sums every series); found is false when none match.
func metricValue(t *testing.T, body []byte, name string, want map[string]string) (sum float64, found bool) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, labels, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for k, v := range want {
			if !strings.Contains(labels, k+`="`+v+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += f
		found = true
	}
	return sum, found
}

// TestMetricsCountWhatHappened drives the quickstart through an emulated
// enrollment and sessions, a queued command answered, a wrong password and
// a wrong digest, and reads the counters on Caddy's /metrics.
func TestMetricsCountWhatHappened(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	state := t.TempDir()
	out, err := s.emulate("--state", state)
	id := mustPass(t, "emulated enrollment and session", out, err)

	// A wrong password: the emulator's GetPolicies is refused, and so is
	// an enrollment request carrying it.
	raw, err := exec.Command(caddyBin, "mdm", "emulate", "--server", "https://"+EnrollmentHost,
		"--connect-to", "127.0.0.1:"+itoa(s.httpsPort), "--root", s.rootFile,
		"--user", quickstartUser, "--password", "wrong").CombinedOutput()
	if err == nil {
		t.Fatalf("a wrong password passed:\n%s", raw)
	}
	wrong := regexp.MustCompile(`(#PasswordText">)[^<]*(<)`).ReplaceAll(asQuickstartUser(t, "a-enroll-request.xml"), []byte("${1}wrong${2}"))
	if r := s.postSOAP("/EnrollmentServer/Enrollment.svc", wrong); r.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(faultCode(t, r.body), "s:Authentication") {
		t.Fatalf("wrong password enrollment: %d %s", r.StatusCode, r.body)
	}

	metrics := func() []byte {
		t.Helper()
		r := s.admin(http.MethodGet, "/metrics", "")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d", r.StatusCode)
		}
		return r.body
	}
	expect := func(body []byte, name string, labels map[string]string, want float64) {
		t.Helper()
		got, found := metricValue(t, body, name, labels)
		if !found || got != want {
			t.Errorf("%s%v = %v (found %v), want %v", name, labels, got, found, want)
		}
	}

	// A command queued: the queue holds it until the next session.
	if out, err := s.cli("send", id, "--get", "./DevDetail/SwV"); err != nil {
		t.Fatalf("send: %v %s", err, out)
	}
	m := metrics()
	expect(m, "caddy_mdm_commands_total", map[string]string{"state": "queued"}, 1)
	expect(m, "caddy_mdm_queue_depth", nil, 1)

	out, err = s.emulate("--state", state)
	mustPass(t, "session answering the Get", out, err)

	// A message with a wrong digest for a device enrolled by the captured request.
	enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	msg := sessionMsg(t, "a-syncml-session1-msg1.xml", "7")
	msg = bytes.Replace(msg, []byte("</Source>"), []byte(`</Source><Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>AAAAAAAAAAAAAAAAAAAAAA==</Data></Cred>`), 1)
	if _, reply := s.manage(s.client, msg); reply.Commands[0].Data != "401" {
		t.Fatalf("wrong digest answered %s", reply.Commands[0].Data)
	}

	m = metrics()
	policy := map[string]string{"auth_policy": "OnPremise"}
	expect(m, "caddy_mdm_enrollments_total", map[string]string{"auth_policy": "OnPremise", "result": "ok"}, 2)
	expect(m, "caddy_mdm_enrollments_total", map[string]string{"auth_policy": "OnPremise", "result": "authentication"}, 1)
	expect(m, "caddy_mdm_enrollments_total", policy, 3)
	expect(m, "caddy_mdm_policy_requests_total", map[string]string{"result": "ok"}, 1)
	expect(m, "caddy_mdm_policy_requests_total", map[string]string{"result": "authentication"}, 1)
	expect(m, "caddy_mdm_auth_failures_total", map[string]string{"service": "enrollment", "reason": "invalid_credentials"}, 2)
	expect(m, "caddy_mdm_auth_failures_total", map[string]string{"service": "management", "reason": "invalid_credentials"}, 1)
	expect(m, "caddy_mdm_management_sessions_total", map[string]string{"result": "authenticated", "auth": "certificate"}, 2)
	expect(m, "caddy_mdm_management_messages_total", map[string]string{"result": "challenged", "auth": "none"}, 1)
	expect(m, "caddy_mdm_commands_total", map[string]string{"state": "queued"}, 1)
	expect(m, "caddy_mdm_commands_total", map[string]string{"state": "sent"}, 1)
	expect(m, "caddy_mdm_commands_total", map[string]string{"state": "acknowledged"}, 1)
	expect(m, "caddy_mdm_queue_depth", nil, 0)
	expect(m, "caddy_mdm_request_duration_seconds_count", map[string]string{"service": "enrollment"}, 3)
	expect(m, "caddy_mdm_request_duration_seconds_count", map[string]string{"service": "policy"}, 2)
	if n, _ := metricValue(t, m, "caddy_mdm_request_duration_seconds_count", map[string]string{"service": "management"}); n < 3 {
		t.Errorf("management durations observed: %v", n)
	}
	if n, _ := metricValue(t, m, "caddy_mdm_request_duration_seconds_count", map[string]string{"service": "discovery"}); n < 1 {
		t.Errorf("discovery durations observed: %v", n)
	}
	// Bounded labels: no device, user or address in any series.
	for _, secret := range []string{id, deviceA, quickstartUser, "127.0.0.1"} {
		if bytes.Contains(m, []byte(secret)) {
			t.Errorf("/metrics names %q", secret)
		}
	}
}

// TestMetricsProfileStates applies a profile to an emulated device: the
// profile gauge counts it in its current state, the transitions counter
// each state it went through.
func TestMetricsProfileStates(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	d := s.enrollFleetDevice(t)
	s.putProfile(t, "camera", profileBody(t, replaceXML(cameraURI, "int", "0"), map[string]any{"all": true}), http.StatusOK)
	s.fleetSession(t, d)
	if st, detail, _ := s.stateOf(t, d, "camera"); st != "applied" {
		t.Fatalf("profile not applied: %s", detail)
	}
	m := s.admin(http.MethodGet, "/metrics", "").body
	for _, c := range []struct {
		name, state string
		want        float64
	}{
		{"caddy_mdm_profile_states", "applied", 1},
		{"caddy_mdm_profile_states", "sent", 0},
		{"caddy_mdm_profile_transitions_total", "sent", 1},
		{"caddy_mdm_profile_transitions_total", "applied", 1},
	} {
		if got, _ := metricValue(t, m, c.name, map[string]string{"state": c.state}); got != c.want {
			t.Errorf("%s{state=%q} = %v, want %v", c.name, c.state, got, c.want)
		}
	}
}
