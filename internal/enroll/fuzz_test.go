package enroll

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs7"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/testpki"
)

// FuzzDiscover feeds the discovery service the Discover request of a real
// device and mutations of it, through soap.Parse as the handler does.
// Whatever the input: no panic; an answer and its result, or a SOAP fault,
// never both nor neither; an answer is a DiscoverResponse envelope with the
// EnrollmentVersion of the result, never above the requested version nor
// the service's maximum.
func FuzzDiscover(f *testing.F) {
	capture.Seed(f, "*-discovery-request.xml")
	s := newTestService(f, "ecdsa")
	max, err := parseVersion(s.MaxEnrollmentVersion)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		env, err := soap.Parse(data)
		if err != nil {
			return
		}
		resp, res, err := s.Discover(env, testEndpoints)
		if err != nil {
			if resp != nil || res != nil {
				t.Fatalf("an answer and an error: %v", err)
			}
			if soap.AsFault(err) == nil {
				t.Fatalf("error %v is not a SOAP fault", err)
			}
			return
		}
		if resp == nil || res == nil {
			t.Fatal("no answer and no error")
		}
		out, err := soap.Parse(resp)
		if err != nil || out.Action != soap.ActionDiscoverResponse || out.Body.Tag != "DiscoverResponse" {
			t.Fatalf("answer is not a DiscoverResponse: %v\n%s", err, resp)
		}
		if got := soap.Text(soap.Path(out.Body, "DiscoverResult", "EnrollmentVersion")); got != res.EnrollmentVersion {
			t.Fatalf("EnrollmentVersion %q answered, %q in the result", got, res.EnrollmentVersion)
		}
		answered, err := parseVersion(res.EnrollmentVersion)
		if err != nil || max.less(answered) {
			t.Fatalf("EnrollmentVersion %q above the maximum %v: %v", res.EnrollmentVersion, max, err)
		}
		if res.Request.RequestVersion != "" {
			if requested, err := parseVersion(res.Request.RequestVersion); err != nil || requested.less(answered) {
				t.Fatalf("EnrollmentVersion %v above the requested %q: %v", answered, res.Request.RequestVersion, err)
			}
		}
	})
}

// FuzzRequestSecurityToken feeds the decoding of an enrollment request (its
// AdditionalContext, its PKCS#10 BinarySecurityToken for Issue, its PKCS#7
// one for Renew) the real devices' requests, a renewal built as Windows
// builds one, and mutations of them. Nothing is authenticated, signed or
// stored. Whatever the input: no panic; at most maxContextItems context
// items; a request or a SOAP fault, never both nor neither; a CSR accepted
// has a key the policy accepts and a signature that verifies.
func FuzzRequestSecurityToken(f *testing.F) {
	capture.Seed(f, "*-enroll-request.xml")
	key := testpki.NewKey(f, "rsa")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "fuzz device"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	p7, err := pkcs7.Sign(testpki.NewCSR(f, testpki.NewKey(f, "rsa"), "renew"), cert, key, crypto.SHA256)
	if err != nil {
		f.Fatal(err)
	}
	renew := replaceCSR(f, capture.Read(f, "a-enroll-request.xml"), p7)
	renew = bytes.Replace(renew, []byte(soap.ValueTypePKCS10), []byte(soap.ValueTypePKCS7), 1)
	renew = bytes.Replace(renew, []byte("200512/Issue"), []byte("200512/Renew"), 1)
	f.Add(renew)

	s := newTestService(f, "ecdsa")
	// The seeds reach what they are meant to: the real CSRs and the renewal
	// request decode.
	for _, name := range capture.Names(f, "*-enroll-request.xml") {
		if _, err := s.checkCSR(readTokenRequest(parseEnvelope(f, capture.Read(f, name)).Body).Token); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := s.renewalRequest(readTokenRequest(parseEnvelope(f, renew).Body).Token); err != nil {
		f.Fatalf("renewal seed: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > capture.MaxFuzzInput {
			t.Skip()
		}
		env, err := soap.Parse(data)
		if err != nil {
			return
		}
		req := readTokenRequest(env.Body)
		ac := req.Context
		if ac.Items > maxContextItems || len(ac.MACs) > ac.Items {
			t.Fatalf("%d context items read, %d MACs", ac.Items, len(ac.MACs))
		}
		if tok := req.Token; tok != nil && (tok.DER == nil) == (tok.DecodeErr == nil) {
			t.Fatalf("token DER %v and decode error %v", tok.DER != nil, tok.DecodeErr)
		}

		csr, err := s.checkCSR(req.Token)
		if (csr == nil) == (err == nil) {
			t.Fatalf("CSR %v and error %v", csr != nil, err)
		}
		if err != nil && soap.AsFault(err) == nil {
			t.Fatalf("CSR error %v is not a SOAP fault", err)
		}
		if csr != nil && (csr.CheckKey(s.MinKeyLength) != nil || csr.CheckSignature() != nil) {
			t.Fatal("a CSR was accepted with a refused key or a bad signature")
		}

		sd, err := s.renewalRequest(req.Token)
		if (sd == nil) == (err == nil) {
			t.Fatalf("SignedData %v and error %v", sd != nil, err)
		}
		if err != nil && soap.AsFault(err) == nil {
			t.Fatalf("renewal error %v is not a SOAP fault", err)
		}
		if sd != nil && len(sd.Content) == 0 {
			t.Fatal("renewal request without content")
		}
	})
}
