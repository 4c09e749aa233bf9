package omadm

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/trace"
)

// TestTraceHidesSessionToken: the replies of a digest session (212 that
// opens it, 200 that goes on) carry the token in their RespURI; what
// trace.SyncML makes of them (debug log, device trace, admin API) does
// not, and still shows the URL.
func TestTraceHidesSessionToken(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	dev := h.enroll(deviceA)
	h.enqueue(deviceA, replace("./Device/Vendor/MSFT/Test/A", "1"))
	r, m := h.sendWith(nil, msg(deviceA, "1", 1, credHdr(digestFor(t, dev, dev.Digest.ServerNonce)), session1Alert, true))
	token := respToken(t, m)
	r2, m2 := h.sendToken(token, msg(deviceA, "1", 2, "", "", false))
	if headerStatus(t, m).Data != "212" || headerStatus(t, m2).Data != "200" {
		t.Fatalf("session: %s then %s", headerStatus(t, m).Data, headerStatus(t, m2).Data)
	}
	for _, reply := range []*Reply{r, r2} {
		if !strings.Contains(string(reply.Body), token) {
			t.Fatal("test setup: the reply carries no token")
		}
		out := trace.SyncML(reply.Body, reply.Report.Sensitive.Reply...)
		if strings.Contains(out, token) {
			t.Errorf("the session token is in the trace of a %s reply:\n%s", reply.Report.HeaderStatus, out)
		}
		if !strings.Contains(out, serverURL+"?"+SessionTokenParam+"="+trace.Redacted) {
			t.Errorf("the RespURI is not shown, redacted:\n%s", out)
		}
	}
}

// TestAADUserTokenAnyCase: an Alert 1224 user token sent under another
// spelling of its type is taken as the token it is (trace redacts it so):
// never kept verbatim as an inventory event.
func TestAADUserTokenAnyCase(t *testing.T) {
	h := newHarness(t, AuthEither, nil)
	h.enroll(deviceA)
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJtYWxsb3J5In0.c2lnbmF0dXJlLXNlY3JldA"
	for i, typ := range []string{"com.microsoft/mdm/aadusertoken", "COM.MICROSOFT/MDM/AADUSERTOKEN", " com.microsoft/MDM/AADUserToken "} {
		alert := `<Alert><CmdID>3</CmdID><Data>1224</Data><Item><Meta><Type xmlns="syncml:metinf">` + typ +
			`</Type></Meta><Data>` + token + `</Data></Item></Alert>`
		h.send(deviceA, msg(deviceA, string(rune('1'+i)), 1, "", session1Alert+alert, true))
	}
	inv, err := h.srv.Store.Inventory(context.Background(), deviceA)
	if err != nil {
		t.Fatal(err)
	}
	for typ, v := range inv.Events {
		if strings.Contains(v, "c2lnbmF0dXJl") {
			t.Errorf("the user token is kept as event %q", typ)
		}
	}
}
