package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Options say how to reach the server and who the device is.
type Options struct {
	// ServerURL is the enrollment host, e.g. https://enterpriseenrollment.contoso.com
	// (the discovery path is added), or the full discovery URL.
	ServerURL string
	// ConnectTo dials this host:port instead of the URL's (to test a server
	// before its DNS exists).
	ConnectTo string
	// RootCAs verifies the server; nil uses the system roots.
	RootCAs  *x509.CertPool
	Insecure bool

	User, Password string
	// Token is a federated enrollment token (instead of a password).
	Token string
	// JWT is an Entra ID access token (instead of a password or token);
	// EnrollmentData the terms-of-use OpaqueBlob sent with it; and
	// AADUserToken the signed-in user's token sent in sessions (entra.go).
	JWT, EnrollmentData, AADUserToken string

	RequestVersion string // default 4.0
	// EnrollmentType is Full (user) or Device.
	EnrollmentType string
	WindowsPhone8  bool
	// ManagementAuth is certificate (default) or digest for OMA-DM.
	ManagementAuth string
	// ChallengeServer makes the device ask the server for credentials
	// (CLIENT digest) in its sessions, and check them.
	ChallengeServer bool
	// NoResume turns off TLS session resumption: by default a device keeps
	// its TLS sessions across its OMA-DM sessions, as Windows' session cache
	// does, and resumes them with its certificate identity.
	NoResume bool
	Timeout  time.Duration
	// FailURIs makes the device answer these status codes for commands on
	// these LocURIs (failuris.go).
	FailURIs map[string]int
}

func (o *Options) defaults() {
	if o.RequestVersion == "" {
		o.RequestVersion = "4.0"
	}
	if o.EnrollmentType == "" {
		o.EnrollmentType = "Full"
	}
	if o.ManagementAuth == "" {
		o.ManagementAuth = "certificate"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
}

// discoveryURL is the URL Windows derives from the e-mail domain.
func (o *Options) discoveryURL() (*url.URL, error) {
	u, err := url.Parse(o.ServerURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want https://enterpriseenrollment.<domain>", o.ServerURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/EnrollmentServer/Discovery.svc"
	}
	return u, nil
}

// httpClient makes a client that dials ConnectTo, verifies the server as
// configured, and presents cert when given.
func (o *Options) httpClient(cert *tls.Certificate) *http.Client {
	return o.httpClientResuming(cert, nil)
}

// httpClientResuming is httpClient resuming TLS sessions from cache (nil:
// full handshakes only).
func (o *Options) httpClientResuming(cert *tls.Certificate, cache tls.ClientSessionCache) *http.Client {
	tlsConf := &tls.Config{RootCAs: o.RootCAs, InsecureSkipVerify: o.Insecure, ClientSessionCache: cache}
	if cert != nil {
		c := *cert
		// Present it even if the server's CertificateRequest names other
		// CAs: the server must be the one to refuse.
		tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	if o.ConnectTo != "" {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: o.Timeout}).DialContext(ctx, network, o.ConnectTo)
		}
	}
	return &http.Client{Transport: tr, Timeout: o.Timeout}
}

// exchange is one HTTP request and its fully read answer.
type exchange struct {
	resp *http.Response
	body []byte
}

// maxBody bounds what the emulator reads from a server.
const maxBody = 16 << 20

func post(ctx context.Context, c *http.Client, u, contentType string, body []byte) (*exchange, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (*exchange, error) {
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ENROLLClient")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	return &exchange{resp: resp, body: b}, nil
}

// framed reports whether an answer had an exact Content-Length and no
// chunking or encoding: devices read bodies as sent.
func (e *exchange) framed() bool {
	return e.resp.ContentLength == int64(len(e.body)) && len(e.resp.TransferEncoding) == 0 && e.resp.Header.Get("Content-Encoding") == ""
}
