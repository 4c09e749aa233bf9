package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/provdoc"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

const (
	hubEnterpriseID = "4000000001"
	hubToken        = "MIIDbTCCAlWgAwIBAgIQHubTokenOfContoso"
	hubProductID    = "{A1B2C3D4-0000-0000-0000-000000000001}"
)

// startPhoneServer runs the Windows Phone 8 example with an .aetx file and
// a hub directory holding a 1000-byte CompanyHub.xap.
func startPhoneServer(t *testing.T) (*server, []byte) {
	t.Helper()
	dir := t.TempDir()
	aetx := filepath.Join(dir, "AET.aetx")
	must(t, os.WriteFile(aetx, []byte(`<?xml version="1.0" encoding="utf-8"?><AET><AETId>`+hubEnterpriseID+`</AETId><AETToken>`+hubToken+`</AETToken></AET>`), 0o600))
	hub := filepath.Join(dir, "hub")
	must(t, os.MkdirAll(hub, 0o755))
	xap := make([]byte, 1000)
	_, _ = rand.Read(xap)
	must(t, os.WriteFile(filepath.Join(hub, "CompanyHub.xap"), xap, 0o644))
	must(t, os.WriteFile(filepath.Join(hub, "App.msix"), []byte("msix"), 0o644))
	s := startCaddy(t, "windows-phone8.Caddyfile",
		"MDM_AETX_FILE="+aetx, "MDM_HUB_ROOT="+hub, "MDM_HUB_PRODUCT_ID="+hubProductID)
	return s, xap
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPhoneProvisioningDocument(t *testing.T) {
	s, _ := startPhoneServer(t)
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	retry := a.doc.Find("Registry", `HKLM\Security\MachineEnrollment\OmaDmRetry`)
	if retry.Value("AuxNumRetries") != "10" || retry.Value("AuxRetryInterval") != "15" {
		t.Errorf("OmaDmRetry %+v", retry.Parms)
	}
	ea := a.doc.Find("EnterpriseAppManagement", hubEnterpriseID)
	if ea == nil {
		t.Fatal("no EnterpriseAppManagement node for the .aetx Enterprise ID")
	}
	wantCrit := "Subject=" + provdoc.PercentEncode("CN="+a.cert.Leaf.Subject.CommonName) + "&Stores=My%5CUser"
	for name, want := range map[string]string{
		"EnrollmentToken": hubToken, "StoreProductId": hubProductID, "StoreDisplayName": "Contoso Hub",
		"StoreUri": "https://enterpriseenrollment.contoso.com/hub/CompanyHub.xap", "CRLCheck": "0",
		"CertificateSearchCriteria": wantCrit,
	} {
		if got := ea.Value(name); got != want {
			t.Errorf("EnterpriseAppManagement %s = %q, want %q", name, got, want)
		}
	}
	if a.doc.Child("APPLICATION").Value("SSLCLIENTCERTSEARCHCRITERIA") != wantCrit {
		t.Error("hub and OMA-DM search criteria differ")
	}
}

func TestHubRanges(t *testing.T) {
	s, xap := startPhoneServer(t)
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	dev := s.deviceClient(a.cert)
	get := func(method string, hdr map[string]string) response {
		t.Helper()
		req, _ := http.NewRequest(method, s.url("/hub/CompanyHub.xap"), nil)
		req.Header.Set("Accept-Encoding", "gzip, br, zstd")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := dev.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return response{resp, buf.Bytes()}
	}
	full := get(http.MethodGet, nil)
	etag := full.Header.Get("Etag")
	if full.StatusCode != 200 || !bytes.Equal(full.body, xap) || full.ContentLength != 1000 || etag == "" ||
		full.Header.Get("Accept-Ranges") != "bytes" || full.Header.Get("Content-Type") != "application/x-silverlight-app" ||
		full.Header.Get("Content-Encoding") != "" {
		t.Fatalf("full GET: %d, %d bytes, CL %d, %v", full.StatusCode, len(full.body), full.ContentLength, full.Header)
	}
	for _, tc := range []struct {
		name         string
		hdr          map[string]string
		status       int
		contentRange string
		from, to     int // body = xap[from:to]
	}{
		{"first 100", map[string]string{"Range": "bytes=0-99"}, 206, "bytes 0-99/1000", 0, 100},
		{"from 100", map[string]string{"Range": "bytes=100-"}, 206, "bytes 100-999/1000", 100, 1000},
		{"last 100", map[string]string{"Range": "bytes=-100"}, 206, "bytes 900-999/1000", 900, 1000},
		{"unsatisfiable", map[string]string{"Range": "bytes=5000-"}, 416, "bytes */1000", 0, -1},
		{"If-Range with a stale ETag", map[string]string{"Range": "bytes=0-99", "If-Range": `"stale"`}, 200, "", 0, 1000},
		{"If-Range with the ETag", map[string]string{"Range": "bytes=0-99", "If-Range": etag}, 206, "bytes 0-99/1000", 0, 100},
	} {
		r := get(http.MethodGet, tc.hdr)
		if r.StatusCode != tc.status || r.Header.Get("Content-Range") != tc.contentRange {
			t.Errorf("%s: %d %q, want %d %q", tc.name, r.StatusCode, r.Header.Get("Content-Range"), tc.status, tc.contentRange)
			continue
		}
		if tc.to >= 0 {
			if !bytes.Equal(r.body, xap[tc.from:tc.to]) || r.ContentLength != int64(tc.to-tc.from) {
				t.Errorf("%s: %d bytes (Content-Length %d), want xap[%d:%d]", tc.name, len(r.body), r.ContentLength, tc.from, tc.to)
			}
		}
	}
	head := get(http.MethodHead, nil)
	if head.StatusCode != 200 || head.ContentLength != 1000 || len(head.body) != 0 {
		t.Errorf("HEAD: %d CL %d body %d", head.StatusCode, head.ContentLength, len(head.body))
	}
	if msix := s.do(dev, http.MethodGet, "/hub/App.msix", "", nil); msix.Header.Get("Content-Type") != "application/msix" {
		t.Errorf("msix type %q", msix.Header.Get("Content-Type"))
	}
	if !s.logs.waitFor(`"msg":"hub download"`) || !strings.Contains(s.logs.String(), `"device_id":"`+deviceA+`"`) || !strings.Contains(s.logs.String(), `"range":"bytes=0-99"`) {
		t.Error("downloads not logged with device and range")
	}
	m := s.admin(http.MethodGet, "/metrics", "")
	if !bytes.Contains(m.body, []byte(`caddy_mdm_hub_downloads_total{status="206"}`)) || !bytes.Contains(m.body, []byte("caddy_mdm_hub_bytes_total")) {
		t.Errorf("hub metrics missing: %d", m.StatusCode)
	}
}

func TestHubGate(t *testing.T) {
	s, _ := startPhoneServer(t)
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	b := enrollDevice(t, s, "b-enroll-request.xml", deviceB)
	if r := s.do(s.deviceClient(a.cert), http.MethodGet, "/hub/CompanyHub.xap", "", nil); r.StatusCode != 200 {
		t.Errorf("enrolled device: %d", r.StatusCode)
	}
	if r := s.do(s.client, http.MethodGet, "/hub/CompanyHub.xap", "", nil); r.StatusCode != 403 {
		t.Errorf("no certificate: %d", r.StatusCode)
	}
	if r := s.admin(http.MethodPost, "/mdm/devices/"+deviceB+"/retire", `{"reason":"lost"}`); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	if r := s.do(s.deviceClient(b.cert), http.MethodGet, "/hub/CompanyHub.xap", "", nil); r.StatusCode != 403 {
		t.Errorf("retired device: %d", r.StatusCode)
	}
	if !s.logs.waitFor("device " + deviceB + " is retired") {
		t.Error("refusal of the retired device not logged with its reason")
	}
	// A certificate of another CA, forced onto the connection, is refused in
	// the TLS handshake (verify_if_given with the device CA pool).
	other := testpki.NewCA(t, "ecdsa")
	key := testpki.NewKey(t, "ecdsa")
	tmpl := *a.cert.Leaf
	tmpl.SignatureAlgorithm = x509.UnknownSignatureAlgorithm
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, other.Root, key.Public(), other.Key)
	must(t, err)
	foreign := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	c := s.newClient(s.roots, true)
	c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
	if resp, err := c.Get(s.url("/hub/CompanyHub.xap")); err == nil {
		resp.Body.Close()
		t.Errorf("certificate of another CA: HTTP %d, want a failed handshake", resp.StatusCode)
	}
}

// TestHubStaysInRoot proves the hub serves nothing outside its root and no
// hidden file, to a device holding its valid certificate: a symlink to a
// file outside, a symlinked directory outside, an index file linking
// outside, hidden files and directories, and a link to a hidden file are
// all 404 without their content and logged with the reason; a symlink that
// stays inside the root still serves its package.
func TestHubStaysInRoot(t *testing.T) {
	s, xap := startPhoneServer(t)
	hub := ""
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "MDM_HUB_ROOT="); ok {
			hub = v
		}
	}
	outside := t.TempDir()
	const secret = "outside-the-hub-root secret"
	must(t, os.WriteFile(filepath.Join(outside, "secret.msix"), []byte(secret), 0o644))
	must(t, os.MkdirAll(filepath.Join(outside, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "dir", "Tool.msix"), []byte(secret), 0o644))
	must(t, os.WriteFile(filepath.Join(hub, ".hidden.msix"), []byte(secret), 0o644))
	must(t, os.MkdirAll(filepath.Join(hub, ".git"), 0o755))
	must(t, os.WriteFile(filepath.Join(hub, ".git", "config"), []byte(secret), 0o644))
	must(t, os.MkdirAll(filepath.Join(hub, "docs"), 0o755))
	links := map[string]string{
		"Leak.msix":       filepath.Join(outside, "secret.msix"),
		"tools":           filepath.Join(outside, "dir"),
		"docs/index.html": filepath.Join(outside, "secret.msix"),
		"Alias.msix":      ".hidden.msix",
		"Latest.xap":      "CompanyHub.xap", // stays inside: still served
	}
	if _, err := os.Stat("/etc/passwd"); err == nil {
		links["passwd"] = "/etc/passwd"
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(hub, filepath.FromSlash(name))); err != nil {
			t.Skipf("symlinks: %v", err)
		}
	}
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	dev := s.deviceClient(a.cert)

	if r := s.do(dev, http.MethodGet, "/hub/CompanyHub.xap", "", nil); r.StatusCode != 200 || !bytes.Equal(r.body, xap) {
		t.Errorf("package: %d, %d bytes", r.StatusCode, len(r.body))
	}
	if r := s.do(dev, http.MethodGet, "/hub/Latest.xap", "", nil); r.StatusCode != 200 || !bytes.Equal(r.body, xap) {
		t.Errorf("symlink inside the root: %d, %d bytes", r.StatusCode, len(r.body))
	}
	for _, tc := range []struct{ path, reason string }{
		{"/Leak.msix", "outside the root"},
		{"/tools/Tool.msix", "outside the root"},
		{"/docs/", "outside the root"},
		{"/.hidden.msix", "hidden path segment"},
		{"/.git/config", "hidden path segment"},
		{"/Alias.msix", "resolves to the hidden path"},
		{"/passwd", "outside the root"},
	} {
		if tc.path == "/passwd" && links["passwd"] == "" {
			continue
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			r := s.do(dev, method, "/hub"+tc.path, "", nil)
			if r.StatusCode != 404 || bytes.Contains(r.body, []byte(secret)) || bytes.Contains(r.body, []byte("root:")) {
				t.Errorf("%s %s: %d, body %q, want 404 without the file", method, tc.path, r.StatusCode, r.body)
			}
		}
		if !s.logs.waitFor(`"path":"` + tc.path + `"`) {
			t.Errorf("refusal of %s not logged", tc.path)
			continue
		}
		for _, line := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(line, `"path":"`+tc.path+`"`) &&
				(!strings.Contains(line, `"level":"warn"`) || !strings.Contains(line, `"msg":"hub download refused"`) || !strings.Contains(line, tc.reason)) {
				t.Errorf("refusal of %s logged as %s, want a warning with reason %q", tc.path, line, tc.reason)
			}
		}
	}
}
