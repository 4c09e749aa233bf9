package integration

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// The accounts of testdata/security.Caddyfile.
const (
	alice         = "alice@contoso.com"
	alicePassword = "alice-password"
	bob           = "bob@contoso.com"
	bobPassword   = "bob-password"
	// The captures' hardware ID: devices A and B are clones of one VM.
	captureHWDevID = "3B3ED6D0EA88CBFCF37D36F90F22FE61172348C0162FC3840D6703149870CE76"
	otherHWDevID   = "B0000000000000000000000000000000000000000000000000000000000000B0"
	enrollPath     = "/EnrollmentServer/Enrollment.svc"
	policyPath     = "/EnrollmentServer/Policy.svc"
)

func startSecurityServer(t *testing.T) *server {
	t.Helper()
	return startCaddyFile(t, filepath.Join("testdata", "security.Caddyfile"))
}

// asAccount rewrites a capture's credentials; everything else stays.
func asAccount(t *testing.T, body []byte, user, password string) []byte {
	t.Helper()
	b := regexp.MustCompile(`<wsse:Username>[^<]*</wsse:Username>`).ReplaceAll(body, []byte("<wsse:Username>"+user+"</wsse:Username>"))
	return regexp.MustCompile(`(#PasswordText">)[^<]*(</wsse:Password>)`).ReplaceAll(b, []byte("${1}"+password+"${2}"))
}

// withCSR swaps a captured enrollment request's PKCS#10 for der.
func withCSR(t *testing.T, body []byte, file string, der []byte) []byte {
	t.Helper()
	out := bytes.Replace(body, []byte(base64.StdEncoding.EncodeToString(capture.CSR(t, file))), []byte(base64.StdEncoding.EncodeToString(der)), 1)
	if bytes.Equal(out, body) {
		t.Fatal("no CSR replaced")
	}
	return out
}

// enrollAs sends a captured enrollment request as user, with a CSR of a
// fresh key and, unless hw is "", another HWDevID. client may present a
// TLS certificate; nil is the plain client.
func (s *server) enrollAs(t *testing.T, client *http.Client, file, user, password, hw string) (response, crypto.Signer) {
	t.Helper()
	key := testpki.NewKey(t, "rsa")
	body := withCSR(t, asAccount(t, capture.Read(t, file), user, password), file, testpki.NewCSR(t, key, "ignored"))
	if hw != "" {
		body = bytes.Replace(body, []byte(captureHWDevID), []byte(hw), 1)
	}
	if client == nil {
		client = s.client
	}
	return s.do(client, http.MethodPost, enrollPath, "application/soap+xml; charset=utf-8", body), key
}

// mustEnroll is enrollAs that must succeed; it returns the device's TLS
// certificate.
func (s *server) mustEnroll(t *testing.T, client *http.Client, file, user, password, hw string) tls.Certificate {
	t.Helper()
	r, key := s.enrollAs(t, client, file, user, password, hw)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enroll %s as %s: %d %s", file, user, r.StatusCode, r.body)
	}
	_, cert := enrollmentResult(t, r.body)
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// mdmSnapshot is every file of the server's device state.
func mdmSnapshot(t *testing.T, s *server) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(s.dataDir(), "mdm")
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, root)] = string(b)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// storedDevice reads a device record from Caddy's storage.
func storedDevice(t *testing.T, s *server, id string) (user, state, thumb string) {
	t.Helper()
	var rec struct {
		User        string `json:"user"`
		State       string `json:"state"`
		Certificate struct {
			Thumbprint string `json:"thumbprint"`
		} `json:"certificate"`
	}
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "mdm", "devices", id, "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.User, rec.State, rec.Certificate.Thumbprint
}

// TestSecurityDeviceTakeover: a user cannot enroll over a live device of
// another user, by its DeviceID or by its hardware ID: the MS-MDE2
// Authorization fault, a warn line naming both users, nothing written, and
// the owner's device still managed. The owner may re-enroll; the device's
// own certificate on the connection may re-enroll it; after an admin
// retires it, anyone may.
func TestSecurityDeviceTakeover(t *testing.T) {
	s := startSecurityServer(t)
	a := s.mustEnroll(t, nil, "a-enroll-request.xml", alice, alicePassword, "")
	if _, m := s.manage(s.deviceClient(a), sessionMsg(t, "a-syncml-session1-msg1.xml", "1")); m.Commands[0].Data != "200" {
		t.Fatalf("alice's device not managed: %+v", m.Commands[0])
	}
	before := mdmSnapshot(t, s)

	refused := func(name string, r response) {
		t.Helper()
		if r.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: status %d", name, r.StatusCode)
		}
		checkSOAPFraming(t, r)
		got := faultCode(t, r.body)
		if !strings.HasPrefix(got, "s:Authorization ") || !strings.Contains(got, "0x80180003") ||
			!strings.Contains(got, "enrolled by another user") || !strings.Contains(got, "administrator must retire it") {
			t.Errorf("%s: fault %q", name, got)
		}
	}
	// Bob, with alice's DeviceID.
	r, _ := s.enrollAs(t, nil, "a-enroll-request.xml", bob, bobPassword, "")
	refused("same DeviceID", r)
	// Bob, with another DeviceID but alice's hardware.
	r, _ = s.enrollAs(t, nil, "b-enroll-request.xml", bob, bobPassword, "")
	refused("same HWDevID", r)

	if after := mdmSnapshot(t, s); len(after) != len(before) {
		t.Errorf("refusals wrote to storage: %d files before, %d after", len(before), len(after))
	} else {
		for k, v := range before {
			if after[k] != v {
				t.Errorf("refusals changed %s", k)
			}
		}
	}
	if user, state, thumb := storedDevice(t, s, deviceA); user != alice || state != "enrolled" || thumb != thumbprint(a.Leaf) {
		t.Errorf("record after refusals: %s %s %s", user, state, thumb)
	}
	if _, m := s.manage(s.deviceClient(a), sessionMsg(t, "a-syncml-session1-msg1.xml", "2")); m.Commands[0].Data != "200" {
		t.Errorf("alice's device locked out: %+v", m.Commands[0])
	}
	line := `"msg":"enrollment refused: device enrolled by another user"`
	if !s.logs.waitFor(line) {
		t.Fatal("refusal not logged")
	}
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, line) && strings.Contains(l, `"device_id":"`+deviceB+`"`) {
			for _, want := range []string{`"level":"warn"`, `"user":"` + bob + `"`, `"owner":"` + alice + `"`, `"hw_dev_id":"` + captureHWDevID + `"`, `"owner_device_id":"` + deviceA + `"`} {
				if !strings.Contains(l, want) {
					t.Errorf("refusal log line lacks %s: %s", want, l)
				}
			}
		}
	}
	if strings.Contains(s.logs.String(), bobPassword) {
		t.Error("a password reached the logs")
	}

	// Alice re-enrolls, typing her name in another case.
	a2 := s.mustEnroll(t, nil, "a-enroll-request.xml", "Alice@Contoso.COM", alicePassword, "")
	// The replaced certificate on the connection does not let bob in ...
	r, _ = s.enrollAs(t, s.deviceClient(a), "a-enroll-request.xml", bob, bobPassword, "")
	refused("replaced certificate", r)
	// ... the device's current one does: the device itself re-enrolls.
	s.mustEnroll(t, s.deviceClient(a2), "a-enroll-request.xml", bob, bobPassword, "")
	if user, _, _ := storedDevice(t, s, deviceA); user != bob {
		t.Fatalf("owner after re-enrolling with the device certificate: %s", user)
	}
	// Now it is bob's: alice is refused, until an admin retires it.
	r, _ = s.enrollAs(t, nil, "a-enroll-request.xml", alice, alicePassword, otherHWDevID)
	refused("previous owner", r)
	if r := s.admin(http.MethodPost, "/mdm/devices/"+deviceA+"/retire", `{"reason":"handed over"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("retire: %d %s", r.StatusCode, r.body)
	}
	s.mustEnroll(t, nil, "b-enroll-request.xml", alice, alicePassword, "")
	if user, state, _ := storedDevice(t, s, deviceB); user != alice || state != "enrolled" {
		t.Errorf("device B after retirement: %s %s", user, state)
	}
}

// TestSecurityPasswordLimits: unknown and known users are refused alike;
// failed passwords are limited per user and per client address, and a
// limited request is refused even with the right password.
func TestSecurityPasswordLimits(t *testing.T) {
	s := startSecurityServer(t) // user_failures 3 1h, client_failures 8 1h
	policy := func(user, password string) response {
		t.Helper()
		return s.postSOAP(policyPath, asAccount(t, capture.Read(t, "a-policy-request.xml"), user, password))
	}
	authFault := func(name string, r response) string {
		t.Helper()
		got := faultCode(t, r.body)
		if r.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(got, "s:Authentication ") || !strings.Contains(got, "0x80180002") {
			t.Fatalf("%s: %d %q", name, r.StatusCode, got)
		}
		return strings.TrimPrefix(got, "s:Authentication ")
	}

	// A wrong password, for an unknown user and for a known one: the same
	// answer (client failures: 2).
	unknown := authFault("unknown user", policy("mallory@contoso.com", "guess"))
	known := authFault("known user", policy(alice, "guess"))
	if unknown != known {
		t.Errorf("unknown and known users answered differently: %q, %q", unknown, known)
	}
	// Two more for alice, in another case, on either service: her third
	// failure (client: 4).
	authFault("alice again", policy("ALICE@contoso.com", "guess"))
	r, _ := s.enrollAs(t, nil, "a-enroll-request.xml", alice, "guess", "")
	authFault("alice on enrollment", r)

	// Now even her right password is refused as rate-limited.
	limited := authFault("alice, right password", policy(alice, alicePassword))
	if !strings.Contains(limited, "Too many failed sign-in attempts") {
		t.Errorf("limited answer %q", limited)
	}
	r, _ = s.enrollAs(t, nil, "a-enroll-request.xml", alice, alicePassword, "")
	authFault("alice, right password, enrollment", r)
	if !s.logs.waitFor(`"msg":"authentication rate-limited"`) {
		t.Fatal("rate limit not logged")
	}
	found := false
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"authentication rate-limited"`) {
			found = true
			for _, want := range []string{`"level":"warn"`, `"user":"` + alice + `"`, `"remote_ip":"127.0.0.1"`, `"limit":"user"`} {
				if !strings.Contains(l, want) {
					t.Errorf("rate-limit log line lacks %s: %s", want, l)
				}
			}
		}
	}
	if !found {
		t.Error("no rate-limit line")
	}
	// Bob still works, on both services.
	if r := policy(bob, bobPassword); r.StatusCode != http.StatusOK {
		t.Fatalf("bob's policy: %d %s", r.StatusCode, r.body)
	}
	s.mustEnroll(t, nil, "a-enroll-request.xml", bob, bobPassword, "")

	// Per client: four more failures make eight from 127.0.0.1; then this
	// client is refused for everyone, bob included.
	for _, u := range []string{"x1@contoso.com", "x2@contoso.com", "x3@contoso.com", "x4@contoso.com"} {
		if got := authFault(u, policy(u, "guess")); strings.Contains(got, "Too many") {
			t.Fatalf("%s limited before the client's budget was spent", u)
		}
	}
	authFault("bob from a limited client", policy(bob, bobPassword))
	if !s.logs.waitFor(`"limit":"client"`) {
		t.Error("client limit not logged")
	}
	logs := s.logs.String()
	for _, pw := range []string{alicePassword, bobPassword, "guess"} {
		if strings.Contains(logs, pw) {
			t.Errorf("password %q reached the logs", pw)
		}
	}
}

// bigRSA makes an RSA public key of exactly bits bits from many small
// primes, with its private exponent: a genuine key whose signatures verify,
// made in a fraction of the time a two-prime key of that size takes.
func bigRSA(t *testing.T, bits int) (*rsa.PublicKey, *big.Int) {
	t.Helper()
	const primeBits = 512
	e := big.NewInt(65537)
	one := big.NewInt(1)
	prime := func(n int) *big.Int {
		for {
			p, err := rand.Prime(rand.Reader, n)
			if err != nil {
				t.Fatal(err)
			}
			if new(big.Int).GCD(nil, nil, e, new(big.Int).Sub(p, one)).Cmp(one) == 0 {
				return p
			}
		}
	}
	for {
		n, phi := big.NewInt(1), big.NewInt(1)
		for n.BitLen() < bits-primeBits {
			p := prime(primeBits)
			n.Mul(n, p)
			phi.Mul(phi, new(big.Int).Sub(p, one))
		}
		p := prime(bits - n.BitLen() + 1)
		n.Mul(n, p)
		if n.BitLen() != bits {
			continue
		}
		phi.Mul(phi, new(big.Int).Sub(p, one))
		return &rsa.PublicKey{N: n, E: 65537}, new(big.Int).ModInverse(e, phi)
	}
}

// signPKCS1v15 is the textbook RSASSA-PKCS1-v1_5 SHA-256 signature.
func signPKCS1v15(pub *rsa.PublicKey, d *big.Int, msg []byte) []byte {
	sum := sha256.Sum256(msg)
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	k := (pub.N.BitLen() + 7) / 8
	em := make([]byte, k)
	em[1] = 1
	t := append(prefix, sum[:]...)
	for i := 2; i < k-len(t)-1; i++ {
		em[i] = 0xff
	}
	copy(em[k-len(t):], t)
	s := new(big.Int).Exp(new(big.Int).SetBytes(em), d, pub.N)
	return s.FillBytes(make([]byte, k))
}

// rsaCSR builds a PKCS#10 request with any subject, signed with SHA-256.
func rsaCSR(t *testing.T, subject pkix.Name, pub *rsa.PublicKey, sign func([]byte) []byte) []byte {
	t.Helper()
	subj, err := asn1.Marshal(subject.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	info, err := asn1.Marshal(struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}{0, asn1.RawValue{FullBytes: subj}, asn1.RawValue{FullBytes: spki}, []asn1.RawValue{}})
	if err != nil {
		t.Fatal(err)
	}
	sig := sign(info)
	der, err := asn1.Marshal(struct {
		Info      asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: info}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue},
		asn1.BitString{Bytes: sig, BitLength: len(sig) * 8}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestSecurityCSRBounds: oversized requests and subjects, and RSA keys
// outside 2048..4096 bits, are refused with the CertificateRequest fault
// and the real reason, even when their signature verifies.
func TestSecurityCSRBounds(t *testing.T) {
	s := startSecurityServer(t)
	// What the server keeps of its own (secrets, index markers) is there
	// before any request; refused requests must add nothing to it.
	before := mdmSnapshot(t, s)
	key2048 := testpki.NewKey(t, "rsa").(*rsa.PrivateKey)
	sign2048 := func(info []byte) []byte {
		sum := sha256.Sum256(info)
		sig, err := rsa.SignPKCS1v15(rand.Reader, key2048, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pub16384, d16384 := bigRSA(t, 16384)
	pub512, d512 := bigRSA(t, 512)
	// The keys are genuine: their signatures verify, so a refusal is for
	// the key itself.
	csr16384 := rsaCSR(t, pkix.Name{CommonName: "big"}, pub16384, func(b []byte) []byte { return signPKCS1v15(pub16384, d16384, b) })
	csr512 := rsaCSR(t, pkix.Name{CommonName: "small"}, pub512, func(b []byte) []byte { return signPKCS1v15(pub512, d512, b) })
	if req, err := x509.ParseCertificateRequest(csr16384); err != nil || req.CheckSignature() != nil {
		t.Fatalf("16384-bit CSR does not verify: %v", err)
	}

	for _, tc := range []struct {
		name, reason string
		csr          []byte
	}{
		{"100 KiB subject", "certificate request of 10", rsaCSR(t, pkix.Name{CommonName: strings.Repeat("A", 100<<10)}, &key2048.PublicKey, sign2048)},
		{"4 KiB subject", "certificate request subject of 4", rsaCSR(t, pkix.Name{CommonName: strings.Repeat("A", 4<<10)}, &key2048.PublicKey, sign2048)},
		{"16384-bit key", "RSA key of 16384 bits: the maximum is 4096", csr16384},
		{"512-bit key", "RSA key of 512 bits: the minimum is 2048", csr512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := withCSR(t, asAccount(t, capture.Read(t, "a-enroll-request.xml"), alice, alicePassword), "a-enroll-request.xml", tc.csr)
			r := s.postSOAP(enrollPath, body)
			got := faultCode(t, r.body)
			if r.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(got, "s:CertificateRequest ") || !strings.Contains(got, "0x80180004") ||
				!strings.Contains(got, tc.reason) || strings.Contains(got, "does not verify") {
				t.Errorf("%d %q, want CertificateRequest with %q", r.StatusCode, got, tc.reason)
			}
			if !s.logs.waitFor(tc.reason) {
				t.Errorf("reason %q not logged", tc.reason)
			}
		})
	}
	// The reported 700 KiB subject: refused, by the body limit
	// (max_body_size) if that is below it, else by the request bound.
	huge := withCSR(t, asAccount(t, capture.Read(t, "a-enroll-request.xml"), alice, alicePassword), "a-enroll-request.xml",
		rsaCSR(t, pkix.Name{CommonName: strings.Repeat("A", 700<<10)}, &key2048.PublicKey, sign2048))
	if got := faultCode(t, s.postSOAP(enrollPath, huge).body); !strings.HasPrefix(got, "s:MessageFormat ") && !strings.Contains(got, "certificate request of 7") {
		t.Errorf("700 KiB subject: %q", got)
	}
	for file := range mdmSnapshot(t, s) {
		if _, ok := before[file]; !ok {
			t.Errorf("a refused request stored %s", file)
		}
	}
	// The bounds leave a normal request alone.
	ok := rsaCSR(t, pkix.Name{CommonName: strings.Repeat("A", 80)}, &key2048.PublicKey, sign2048)
	if r := s.postSOAP(enrollPath, withCSR(t, asAccount(t, capture.Read(t, "a-enroll-request.xml"), alice, alicePassword), "a-enroll-request.xml", ok)); r.StatusCode != http.StatusOK {
		t.Errorf("normal request: %d %s", r.StatusCode, r.body)
	}
}

// TestSecuritySOAP11Envelope: an envelope in another namespace than SOAP
// 1.2's is refused with the MessageFormat fault, the reason logged.
func TestSecuritySOAP11Envelope(t *testing.T) {
	s := startSecurityServer(t)
	body := bytes.Replace(capture.Read(t, "a-discovery-request.xml"),
		[]byte(`xmlns:s="http://www.w3.org/2003/05/soap-envelope"`), []byte(`xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"`), 1)
	if bytes.Equal(body, capture.Read(t, "a-discovery-request.xml")) {
		t.Fatal("namespace not replaced")
	}
	r := s.postSOAP("/EnrollmentServer/Discovery.svc", body)
	checkSOAPFraming(t, r)
	if got := faultCode(t, r.body); r.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(got, "s:MessageFormat ") || !strings.Contains(got, "0x80180001") {
		t.Errorf("SOAP 1.1 discovery: %d %q", r.StatusCode, got)
	}
	if !s.logs.waitFor(`not a SOAP 1.2 envelope: namespace \"http://schemas.xmlsoap.org/soap/envelope/\"`) {
		t.Error("namespace refusal not logged")
	}
	// The same request in SOAP 1.2 is served.
	if r := s.postSOAP("/EnrollmentServer/Discovery.svc", capture.Read(t, "a-discovery-request.xml")); r.StatusCode != http.StatusOK {
		t.Errorf("SOAP 1.2 discovery: %d %s", r.StatusCode, r.body)
	}
}
