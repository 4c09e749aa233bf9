package caddymdm

// In-process handler tests: the handlers served with httptest, without a
// running Caddy.
//
// App.Provision cannot run under caddy.NewContext(caddy.Context{Context:
// context.Background()}): it calls ctx.Storage() and the handlers'
// Provision calls ctx.App("mdm"), both of which dereference the context's
// unexported *caddy.Config, which only caddy.Run/Load sets. So newTestApp
// builds what Provision builds (store, device CA, certificate authority,
// trace recorder, enrollment service, OMA-DM server) from the same internal packages, and the handlers are given
// that App directly; the Hub's file server is provisioned under
// caddy.NewContext as Caddy's fileserver tests do.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/certauth"
	"github.com/caddy-mdm/caddy-mdm/internal/dump"
	"github.com/caddy-mdm/caddy-mdm/internal/enroll"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/omadm"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

const (
	ipDeviceA = "1E08C6E95D8BB843B1278FF45BC60CC6"
	ipDeviceB = "B5B954E81FBCB94EB79BD08BE625F4EE"
	ipHost    = "enterpriseenrollment.mdmwindows.com"
)

type testApp struct {
	*App
	storage *certmagic.FileStorage
}

// newTestApp builds a provisioned-equivalent App on file storage, with the
// captures' users (password demo) and tracing on.
func newTestApp(t *testing.T) *testApp {
	t.Helper()
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	ca := testpki.NewCA(t, "ecdsa")
	hash, err := bcrypt.GenerateFromPassword([]byte("demo"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	compare := func(h, pw []byte) (bool, error) {
		err := bcrypt.CompareHashAndPassword(h, pw)
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	a := &App{
		ProviderID:     "caddy-mdm",
		BaseURL:        "https://" + ipHost,
		MaxBodySize:    DefaultMaxBodySize,
		TraceExchanges: 10,
		store:          store.New(storage),
		ca:             ca,
		logger:         zap.NewNop(),
	}
	a.certs = certauth.ForCA(ca, a.store, nil)
	a.recorder = &dump.Recorder{Store: a.store, Keep: a.TraceExchanges, Now: time.Now}
	a.service = &enroll.Service{
		ProviderID: a.ProviderID,
		Auth:       enroll.NewPasswordAuth(map[string][]byte{"demo@mdmwindows.com": hash, "demio": hash}, compare, hash),
		Issuer:     &issuer.Issuer{CA: ca, Validity: 365 * 24 * time.Hour},
		Store:      a.store,
		Certs:      a.certs,
	}
	if err := a.service.Validate(); err != nil {
		t.Fatal(err)
	}
	a.management = &omadm.Server{Store: a.store, ProviderID: a.ProviderID, Auth: omadm.AuthEither,
		Roots: a.DeviceCAPool(), Intermediates: ca.Intermediates, Certs: a.certs, Recorder: a.recorder}
	if err := a.management.Validate(); err != nil {
		t.Fatal(err)
	}
	return &testApp{App: a, storage: storage}
}

var csrValue = regexp.MustCompile(`(#PKCS10"[^>]*>)[^<]+(<)`)

// enrollCapture enrolls a captured request with a fresh key, as its user.
func (a *testApp) enrollCapture(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	csr := testpki.NewCSR(t, testpki.NewKey(t, "rsa"), "x")
	req := csrValue.ReplaceAll(capture.Read(t, file), []byte("${1}"+base64.StdEncoding.EncodeToString(csr)+"${2}"))
	env, err := soap.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	_, issued, err := a.service.RequestToken(context.Background(), env, enroll.CredentialsFrom(env, nil), a.endpoints(httptest.NewRequest("POST", "https://"+ipHost+EnrollmentPath, nil)))
	if err != nil {
		t.Fatalf("enrolling %s: %v", file, err)
	}
	return issued.Certificate
}

func (a *testApp) omadmHandler() *OMADM {
	return &OMADM{appHandler{app: a.App, logger: zap.NewNop()}}
}

// storageKeys lists every key in the app's storage.
func (a *testApp) storageKeys(t *testing.T) []string {
	t.Helper()
	keys, err := a.storage.List(context.Background(), "", true)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return keys
}

func ipMessage(device, session string) []byte {
	return []byte(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>` +
		`<SessionID>` + session + `</SessionID><MsgID>1</MsgID><Target><LocURI>https://` + ipHost + ManagementPath + `</LocURI></Target>` +
		`<Source><LocURI>` + device + `</LocURI></Source></SyncHdr>` +
		`<SyncBody><Alert><CmdID>2</CmdID><Data>1201</Data></Alert><Final/></SyncBody></SyncML>`)
}

// serveOMADM sends one request through the OMADM handler.
func serveOMADM(t *testing.T, h *OMADM, method, target, contentType string, body []byte, peer ...*x509.Certificate) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if len(peer) > 0 {
		r.TLS = &tls.ConnectionState{PeerCertificates: peer}
	}
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		t.Error("the OMA-DM handler called the next handler")
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) {
			w.Code = he.StatusCode
			return w
		}
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

// TestOMADMRefusalsInProcess checks the HTTP-level refusals of the OMA-DM
// handler, and that a malformed body is refused without being echoed.
func TestOMADMRefusalsInProcess(t *testing.T) {
	a := newTestApp(t)
	h := a.omadmHandler()
	url := "https://" + ipHost + ManagementPath
	good := ipMessage(ipDeviceA, "1")
	const secret = "S3CR3T-MARKER-<script>"
	for _, tc := range []struct {
		name, method, target, ct string
		body                     []byte
		status                   int
	}{
		{"GET", http.MethodGet, url, syncml.ContentType, nil, http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, url, syncml.ContentType, good, http.StatusMethodNotAllowed},
		{"no Content-Type", http.MethodPost, url, "", good, http.StatusUnsupportedMediaType},
		{"text/xml", http.MethodPost, url, "text/xml", good, http.StatusUnsupportedMediaType},
		{"unknown query parameter", http.MethodPost, url + "?mode=full&evil=1", syncml.ContentType, good, http.StatusBadRequest},
		{"repeated query parameter", http.MethodPost, url + "?mode=a&mode=b", syncml.ContentType, good, http.StatusBadRequest},
		{"long query value", http.MethodPost, url + "?Platform=" + strings.Repeat("x", 65), syncml.ContentType, good, http.StatusBadRequest},
		{"malformed", http.MethodPost, url, syncml.ContentType, []byte("<SyncML><SyncHdr>" + secret), http.StatusBadRequest},
		{"not SyncML", http.MethodPost, url, syncml.ContentType, []byte("<html>" + secret + "</html>"), http.StatusBadRequest},
		{"too large", http.MethodPost, url, syncml.ContentType, bytes.Repeat([]byte("x"), DefaultMaxBodySize+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serveOMADM(t, h, tc.method, tc.target, tc.ct, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if strings.Contains(w.Body.String(), "S3CR3T") || strings.Contains(w.Body.String(), "<script>") {
				t.Errorf("the refusal echoes the request: %q", w.Body)
			}
			if tc.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("405 without Allow: POST: %q", w.Header().Get("Allow"))
			}
		})
	}
	if keys := a.storageKeys(t); len(keys) != 0 {
		t.Errorf("refused requests wrote storage: %v", keys)
	}
	// Control: a well-formed message of an unknown device is answered
	// with SyncML (a 200 carrying the refusal in the SyncHdr status).
	w := serveOMADM(t, h, http.MethodPost, url+"?mode=Maintenance&Platform=WoA", syncml.ContentType, good)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != syncml.ContentType {
		t.Fatalf("well-formed message: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestNoTraceForUnknownDevice sends management messages naming a device
// that never enrolled, unauthenticated and with another enrolled device's
// valid certificate: no storage key may name it, no trace may exist for
// it. A known device's unauthenticated message adds nothing to its trace;
// its authenticated one does (so tracing is on).
func TestNoTraceForUnknownDevice(t *testing.T) {
	a := newTestApp(t)
	h := a.omadmHandler()
	ctx := context.Background()
	certB := a.enrollCapture(t, "b-enroll-request.xml")
	url := "https://" + ipHost + ManagementPath
	for _, unknown := range []string{"0000000000000000000000000000FFFF", "UNKNOWN-DEVICE-ID"} {
		w := serveOMADM(t, h, http.MethodPost, url, syncml.ContentType, ipMessage(unknown, "1"))
		if w.Code != http.StatusOK {
			t.Fatalf("unknown device, no credentials: %d", w.Code)
		}
		w = serveOMADM(t, h, http.MethodPost, url, syncml.ContentType, ipMessage(unknown, "2"), certB)
		if w.Code != http.StatusOK {
			t.Fatalf("unknown device, B's certificate: %d", w.Code)
		}
		if bytes.Contains(w.Body.Bytes(), []byte("<Data>200</Data>")) && !bytes.Contains(w.Body.Bytes(), []byte("<Data>403</Data>")) &&
			!bytes.Contains(w.Body.Bytes(), []byte("<Data>404</Data>")) && !bytes.Contains(w.Body.Bytes(), []byte("<Data>401</Data>")) {
			t.Errorf("unknown device with B's certificate looks accepted:\n%s", w.Body)
		}
		for _, k := range a.storageKeys(t) {
			if strings.Contains(k, unknown) {
				t.Errorf("storage key %q names the unknown device %s", k, unknown)
			}
		}
		if a.storage.Exists(ctx, "mdm/devices/"+unknown) {
			t.Errorf("mdm/devices/%s exists", unknown)
		}
		if tr, err := a.store.Trace(ctx, unknown); err == nil && len(tr.Exchanges) != 0 {
			t.Errorf("a trace was kept for the unknown device %s: %d exchanges", unknown, len(tr.Exchanges))
		}
		if _, err := a.store.Device(ctx, unknown); err == nil {
			t.Errorf("a record exists for the unknown device %s", unknown)
		}
	}
	// B unauthenticated: nothing traced; B with its certificate: traced.
	serveOMADM(t, h, http.MethodPost, url, syncml.ContentType, ipMessage(ipDeviceB, "3"))
	if tr, err := a.store.Trace(ctx, ipDeviceB); err != nil || len(tr.Exchanges) != 0 {
		t.Fatalf("unauthenticated message traced for B: %v %+v", err, tr)
	}
	serveOMADM(t, h, http.MethodPost, url, syncml.ContentType, ipMessage(ipDeviceB, "4"), certB)
	if tr, err := a.store.Trace(ctx, ipDeviceB); err != nil || len(tr.Exchanges) != 1 {
		t.Fatalf("B's authenticated message not traced: %v %+v", err, tr)
	}
}

// newTestHub serves a directory holding app.appx through the Hub with
// require_client_certificate.
func newTestHub(t *testing.T, a *testApp) *Hub {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "app.appx"), []byte("package bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &Hub{Root: root, RequireClientCertificate: true, appHandler: appHandler{app: a.App, logger: zap.NewNop()}}
	h.files = &fileserver.FileServer{Root: root, Hide: dotfileHide(root)}
	if err := h.files.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	var err error
	if h.metrics, err = hubMetricsOn(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	return h
}

// hubRequest is a GET of a hub path as Caddy hands it to the handler:
// with its replacer and vars, and the client certificate if any.
func hubRequest(path string, peer ...*x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://"+ipHost+path, nil)
	if len(peer) > 0 {
		r.TLS = &tls.ConnectionState{PeerCertificates: peer}
	}
	rctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	rctx = context.WithValue(rctx, caddyhttp.VarsCtxKey, map[string]any{})
	rctx = context.WithValue(rctx, caddyhttp.OriginalRequestCtxKey, *r)
	return r.WithContext(rctx)
}

func hubGet(t *testing.T, h *Hub, peer ...*x509.Certificate) int {
	t.Helper()
	r := hubRequest("/app.appx", peer...)
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusNotFound)
		return nil
	}))
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	if err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w.Code
}

// TestHubRefusesReplacedCertificate: A enrolls, then re-enrolls (same user,
// same hardware) and gets a new certificate; the old one, still from the
// device CA, unexpired and still indexed to A, no longer opens the hub.
func TestHubRefusesReplacedCertificate(t *testing.T) {
	a := newTestApp(t)
	h := newTestHub(t, a)
	old := a.enrollCapture(t, "a-enroll-request.xml")
	if got := hubGet(t, h, old); got != http.StatusOK {
		t.Fatalf("A's certificate before re-enrollment: %d", got)
	}
	if got := hubGet(t, h); got != http.StatusForbidden {
		t.Fatalf("no certificate: %d", got)
	}
	cur := a.enrollCapture(t, "a-enroll-request.xml")
	if cur.Equal(old) {
		t.Fatal("re-enrollment kept the certificate")
	}
	ctx := context.Background()
	dev, err := a.store.Device(ctx, ipDeviceA)
	if err != nil || dev.State != store.StateEnrolled || dev.Certificate.Thumbprint != issuer.Thumbprint(cur) {
		t.Fatalf("A after re-enrollment: %v %+v", err, dev)
	}
	if dev.PreviousCertificate != nil && dev.PreviousCertificate.Thumbprint == issuer.Thumbprint(old) {
		t.Fatal("re-enrollment kept the old certificate as an overlapping one")
	}
	if got := hubGet(t, h, cur); got != http.StatusOK {
		t.Fatalf("A's new certificate: %d", got)
	}
	if got := hubGet(t, h, old); got != http.StatusForbidden {
		t.Fatalf("A's replaced certificate: %d, want 403", got)
	}
	// Even if the old certificate still leads to A by the index (a lookup
	// that survived the re-enrollment), the gate refuses it.
	if err := a.store.IndexCertificate(ctx, issuer.Thumbprint(old), ipDeviceA); err != nil {
		t.Fatal(err)
	}
	if got := hubGet(t, h, old); got != http.StatusForbidden {
		t.Fatalf("A's replaced certificate, still indexed: %d, want 403", got)
	}
	// During a renewal overlap the previous certificate is accepted.
	dev.PreviousCertificate = &store.Certificate{Serial: issuer.SerialHex(old), Thumbprint: issuer.Thumbprint(old)}
	if err := a.store.PutDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if got := hubGet(t, h, old); got != http.StatusOK {
		t.Fatalf("A's overlapping previous certificate: %d", got)
	}
}

// downStorage fails every read, as a Redis that stopped.
type downStorage struct{ certmagic.Storage }

func (downStorage) Load(context.Context, string) ([]byte, error) {
	return nil, errors.New("connection refused")
}

// TestHubDuringStorageOutage: with the storage down, a live device's
// download is not refused (403) but deferred: 503 with Retry-After, and
// the refused counter does not move; a missing package's 404 carries no
// package Content-Type.
func TestHubDuringStorageOutage(t *testing.T) {
	a := newTestApp(t)
	h := newTestHub(t, a)
	cert := a.enrollCapture(t, "a-enroll-request.xml")
	a.store = store.New(downStorage{a.storage})
	a.certs = certauth.ForCA(a.ca, a.store, nil)
	before := value(t, h.metrics.refused)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, hubRequest("/app.appx", cert), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("download with the storage down: %d Retry-After %q, want 503", w.Code, w.Header().Get("Retry-After"))
	}
	if got := value(t, h.metrics.refused); got != before {
		t.Errorf("refused counter moved by %v during an outage", got-before)
	}

	// Back up: a package that is not there is a 404 with no package type.
	a.store = store.New(a.storage)
	a.certs = certauth.ForCA(a.ca, a.store, nil)
	w = httptest.NewRecorder()
	err := h.ServeHTTP(w, hubRequest("/missing.appx", cert), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound || w.Header().Get("Content-Type") == "application/appx" {
		t.Errorf("missing package: %v, Content-Type %q", err, w.Header().Get("Content-Type"))
	}
}
