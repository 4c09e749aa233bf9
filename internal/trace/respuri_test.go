package trace

import (
	"strings"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
)

const liveToken = "bG9uZy1saXZlLXNlc3Npb24tdG9rZW4x"

// tokenMessage is a SyncML message whose header holds uri as its
// RespURI (el "RespURI") or as its Target LocURI (el "LocURI").
func tokenMessage(el, uri string) []byte {
	target, resp := "https://mdm.contoso.com/ManagementServer/MDM.svc", ""
	if el == "LocURI" {
		target = uri
	} else {
		resp = "<RespURI>" + uri + "</RespURI>"
	}
	return []byte(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>` +
		`<Target><LocURI>` + target + `</LocURI></Target><Source><LocURI>DEVICE1</LocURI></Source>` + resp +
		`</SyncHdr><SyncBody><Final/></SyncBody></SyncML>`)
}

// TestSyncMLSessionToken: the digest session token of a RespURI (and of a
// device's Target LocURI naming it) never reaches a trace, however its
// parameter is written; the rest of the URL stays readable.
func TestSyncMLSessionToken(t *testing.T) {
	base := "https://mdm.contoso.com/ManagementServer/MDM.svc"
	for _, tc := range []struct {
		name, el, uri string
	}{
		{"RespURI", "RespURI", base + "?mode=Maintenance&amp;Platform=WoA&amp;dmsession=" + liveToken},
		{"token first", "RespURI", base + "?dmsession=" + liveToken + "&amp;mode=Maintenance"},
		{"character reference", "RespURI", base + "?mode=Maintenance&#38;dmsession=" + liveToken},
		{"CDATA", "RespURI", "<![CDATA[" + base + "?mode=Maintenance&dmsession=" + liveToken + "]]>"},
		{"split text", "RespURI", base + "?mode=Maintenance&amp;dm<![CDATA[session=" + liveToken + "]]>"},
		{"other case", "RespURI", base + "?DMSession=" + liveToken},
		{"escaped name", "RespURI", base + "?dm%73ession=" + liveToken},
		{"device Target LocURI", "LocURI", base + "?mode=Maintenance&amp;dmsession=" + liveToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := SyncML(tokenMessage(tc.el, tc.uri))
			if strings.Contains(out, liveToken) {
				t.Fatalf("the session token is in the trace:\n%s", out)
			}
			if !strings.Contains(out, base+"?") || !strings.Contains(out, "="+Redacted) {
				t.Errorf("the URL is no longer readable:\n%s", out)
			}
		})
	}
	// A LocURI without the parameter is left as it was.
	plain := "./Vendor/MSFT/Policy/Result?list=Struct"
	if out := SyncML(tokenMessage("LocURI", plain)); !strings.Contains(out, plain) {
		t.Errorf("a LocURI without a session token changed:\n%s", out)
	}
}

func TestRedactSessionToken(t *testing.T) {
	for in, want := range map[string]string{
		"https://x/MDM.svc?mode=M&dmsession=abc&Platform=WoA": "https://x/MDM.svc?mode=M&dmsession=REDACTED&Platform=WoA",
		"https://x/MDM.svc?dmsession=abc#frag":                "https://x/MDM.svc?dmsession=REDACTED#frag",
		"https://x/MDM.svc?dmsession":                         "https://x/MDM.svc?dmsession=REDACTED",
		"https://x/MDM.svc?dmsession=a&dmsession=b":           "https://x/MDM.svc?dmsession=REDACTED&dmsession=REDACTED",
		"https://x/MDM.svc?mode=M":                            "https://x/MDM.svc?mode=M",
		"https://x/dmsession=abc":                             "https://x/dmsession=abc",
	} {
		if got := RedactSessionToken(in); got != want {
			t.Errorf("RedactSessionToken(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInventoryUserTokenEvents: an Entra user token kept as an event under
// any spelling of its type (by a server that matched it case-sensitively)
// is redacted where the inventory is shown; the verified user the server
// keeps under the exact type stays readable.
func TestInventoryUserTokenEvents(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJncmFjZUBjb250b3NvLmNvbSJ9.c2lnbmF0dXJl"
	inv := store.Inventory{Events: map[string]string{
		"com.microsoft/mdm/aadusertoken":   jwt,
		" COM.MICROSOFT/MDM/AADUSERTOKEN ": "opaque-token-value",
		"com.microsoft/MDM/AADUserToken":   "grace@contoso.com",
		"com.microsoft:mdm.loginstatus":    "user",
	}}
	out := Inventory(inv)
	for typ, want := range map[string]string{
		"com.microsoft/mdm/aadusertoken":   Redacted,
		" COM.MICROSOFT/MDM/AADUSERTOKEN ": Redacted,
		"com.microsoft/MDM/AADUserToken":   "grace@contoso.com",
		"com.microsoft:mdm.loginstatus":    "user",
	} {
		if out.Events[typ] != want {
			t.Errorf("event %q shown as %q, want %q", typ, out.Events[typ], want)
		}
	}
	if inv.Events["com.microsoft/mdm/aadusertoken"] != jwt {
		t.Error("Inventory changed the stored inventory")
	}
	// A token under the exact type (never written so, but never shown).
	out = Inventory(store.Inventory{Events: map[string]string{"com.microsoft/MDM/AADUserToken": jwt}})
	if out.Events["com.microsoft/MDM/AADUserToken"] != Redacted {
		t.Errorf("a token under the exact type is shown: %q", out.Events["com.microsoft/MDM/AADUserToken"])
	}
}
