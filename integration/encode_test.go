package integration

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// rawGet sends a request asking for gzip itself, so Go's transport does not
// decode the answer behind the test's back.
func (s *server) rawDo(c *http.Client, method, path, ctype string, body []byte, hdr map[string]string) response {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url(path), bytes.NewReader(body))
	req.Header.Set("Accept-Encoding", "gzip")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}

// TestEncodeNeverTouchesDeviceTraffic: with an encode that compresses every
// response, SOAP answers, SyncML answers and hub ranges still go out
// unencoded with exact lengths, while other responses are compressed.
func TestEncodeNeverTouchesDeviceTraffic(t *testing.T) {
	hub := t.TempDir()
	pkg := bytes.Repeat([]byte("company hub package "), 100)
	must(t, os.WriteFile(filepath.Join(hub, "CompanyHub.xap"), pkg, 0o644))
	s := startCaddyFile(t, filepath.Join("testdata", "encode-everything.Caddyfile"), "MDM_HUB_ROOT="+hub)

	control := s.rawDo(s.client, http.MethodGet, "/control", "", nil, nil)
	if control.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("control response not compressed: encode is not active (%v)", control.Header)
	}
	if _, err := gzip.NewReader(bytes.NewReader(control.body)); err != nil {
		t.Fatalf("control body: %v", err)
	}

	unencoded := func(what string, r response, wantLen int) {
		t.Helper()
		if r.Header.Get("Content-Encoding") != "" || r.ContentLength != int64(len(r.body)) || (wantLen >= 0 && len(r.body) != wantLen) {
			t.Errorf("%s: Content-Encoding %q, Content-Length %d, %d bytes", what, r.Header.Get("Content-Encoding"), r.ContentLength, len(r.body))
		}
	}
	unencoded("discovery", s.rawDo(s.client, http.MethodPost, "/EnrollmentServer/Discovery.svc", "application/soap+xml; charset=utf-8", capture.Read(t, "a-discovery-request.xml"), nil), -1)
	a := enrollDevice(t, s, "a-enroll-request.xml", deviceA)
	dev := s.deviceClient(a.cert)
	unencoded("management", s.rawDo(dev, http.MethodPost, managePath, syncmlMedia, capture.Read(t, "a-syncml-session1-msg1.xml"), nil), -1)
	unencoded("hub download", s.rawDo(dev, http.MethodGet, "/hub/CompanyHub.xap", "", nil, nil), len(pkg))
	r := s.rawDo(dev, http.MethodGet, "/hub/CompanyHub.xap", "", nil, map[string]string{"Range": "bytes=10-19"})
	unencoded("hub range", r, 10)
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, pkg[10:20]) {
		t.Errorf("hub range: %d %q", r.StatusCode, r.body)
	}
}
