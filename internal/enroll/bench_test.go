package enroll

import (
	"context"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
	"github.com/caddy-mdm/caddy-mdm/internal/issuer"
	"github.com/caddy-mdm/caddy-mdm/internal/pkcs10"
	"github.com/caddy-mdm/caddy-mdm/internal/soap"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

// acceptAll authenticates everyone: it takes password hashing out of the
// "protocol" variant of BenchmarkIssue.
type acceptAll struct{}

func (acceptAll) Policy() store.AuthPolicy { return PolicyOnPremise }
func (acceptAll) Authenticate(context.Context, Credentials) (string, error) {
	return "bench", nil
}

// BenchmarkIssue is one MS-WSTEP Issue request of real device A: parse the
// envelope, authenticate, parse and verify the CSR, sign the certificate,
// build the provisioning document, store the record, write the response.
//
//   - full:     bcrypt at its minimum cost and the file storage, as deployed
//     (see BenchmarkPasswordCheck for the real bcrypt costs);
//   - protocol: no password hashing and in-memory storage, so that
//     protocol minus BenchmarkIssueCrypto is the protocol's own overhead.
func BenchmarkIssue(b *testing.B) {
	req := capture.Read(b, "a-enroll-request.xml")
	for _, ca := range []string{"rsa", "ecdsa"} {
		for _, variant := range []string{"full", "protocol"} {
			b.Run("ca="+ca+"/"+variant, func(b *testing.B) {
				s := newTestService(b, ca)
				if variant == "protocol" {
					s.Auth = acceptAll{}
					s.Store = store.New(store.NewMemory())
				}
				b.ReportAllocs()
				for b.Loop() {
					env, err := soap.Parse(req)
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := s.RequestToken(context.Background(), env, CredentialsFrom(env, nil), testEndpoints); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkIssueCrypto is the crypto floor of the same request: the CSR's
// signature check and the certificate signature, nothing else.
func BenchmarkIssueCrypto(b *testing.B) {
	der := capture.CSR(b, "a-enroll-request.xml")
	subject, err := issuer.NewSubject("1E08C6E95D8BB843B1278FF45BC60CC6")
	if err != nil {
		b.Fatal(err)
	}
	for _, ca := range []string{"rsa", "ecdsa"} {
		b.Run("ca="+ca, func(b *testing.B) {
			s := newTestService(b, ca)
			b.ReportAllocs()
			for b.Loop() {
				csr, err := pkcs10.Parse(der)
				if err != nil {
					b.Fatal(err)
				}
				if err := csr.CheckSignature(); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Issuer.Issue(csr, subject, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPasswordCheck is the cost of one OnPremise password check at the
// bcrypt costs of the quickstart (10) and the production example (12).
// Windows authenticates twice per enrollment (GetPolicies and Issue).
func BenchmarkPasswordCheck(b *testing.B) {
	for _, cost := range []int{10, 12} {
		hash, err := bcrypt.GenerateFromPassword([]byte("demo-password"), cost)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("bcrypt="+strconv.Itoa(cost), func(b *testing.B) {
			for b.Loop() {
				if err := bcrypt.CompareHashAndPassword(hash, []byte("demo-password")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
