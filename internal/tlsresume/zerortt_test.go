package tlsresume

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// TestNoEarlyDataOverQUIC: a device resuming over HTTP/3 asks to send its
// request as 0-RTT data, which an eavesdropper could replay; the request
// must only be served once the handshake has completed. The server is set
// up as Caddy's HTTP/3 listener is: 0-RTT allowed, the policy's config
// chosen by GetConfigForClient.
func TestNoEarlyDataOverQUIC(t *testing.T) {
	p := newPKI(t)
	policy := p.serverConfig(tls.VersionTLS13)
	policy.NextProtos = []string{http3.NextProtoH3}
	enable(t, policy, rotated(t, newMemKeys(), nil), "device CA")
	outer := &tls.Config{MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return policy, nil }}

	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := quic.ListenEarly(udp, http3.ConfigureTLSConfig(outer), &quic.Config{Allow0RTT: true})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct{ complete, resumed bool }
	requests := make(chan seen, 4)
	srv := &http3.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- seen{r.TLS.HandshakeComplete, r.TLS.DidResume}
		io.WriteString(w, "ok")
	})}
	go srv.ServeListener(ln)
	defer srv.Close()

	// Each request on a new connection of the same client (one session
	// cache), as a device's polls are.
	cache := tls.NewLRUClientSessionCache(4)
	get := func(method string) (served *seen, err error) {
		tr := &http3.Transport{TLSClientConfig: p.clientConfig(cache, host), QUICConfig: &quic.Config{}}
		tr.Dial = func(ctx context.Context, _ string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			if method == http3.MethodGet0RTT {
				return quic.DialAddrEarly(ctx, udp.LocalAddr().String(), tlsCfg, cfg)
			}
			return quic.DialAddr(ctx, udp.LocalAddr().String(), tlsCfg, cfg)
		}
		defer tr.Close()
		req, err := http.NewRequest(method, "https://"+host+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := <-requests
		return &got, nil
	}
	first, err := get(http.MethodGet)
	if err != nil || !first.complete {
		t.Fatalf("first request: %v %+v", err, first)
	}

	// The resuming client sends its request as early data: refused.
	early, err := get(http3.MethodGet0RTT)
	if err == nil {
		if !early.complete {
			t.Fatal("a request was served from 0-RTT data, before the handshake completed")
		}
	} else if !strings.Contains(err.Error(), "0-RTT rejected") {
		t.Fatalf("early request: %v", err)
	}
	// It resumes all the same, once the handshake completes.
	again, err := get(http.MethodGet)
	if err != nil || !again.complete || !again.resumed {
		t.Fatalf("resumed request after the refused early data: %v %+v", err, again)
	}
}
