package integration

import (
	"bytes"
	"context"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caddy-mdm/caddy-mdm/internal/entra/entratest"
)

// touRedirect is the redirect_uri Windows' web view gives the terms page.
const touRedirect = "ms-appx-web://Microsoft.AAD.BrokerPlugin/S-1-15-2-1861897761-1695161497-2927542615"

// touBrowser starts headless Chromium resolving the enrollment host to this
// machine. Navigations answered with a 302 to ms-appx-web:// (which only
// Windows' web view can follow) are caught at the response: their Location
// goes to the returned channel and the browser gets a plain page instead.
func touBrowser(t *testing.T) (context.Context, <-chan string) {
	t.Helper()
	bin := requireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.IgnoreCertErrors,
		chromedp.Flag("host-resolver-rules", "MAP "+EnrollmentHost+" 127.0.0.1"),
		chromedp.WindowSize(900, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })

	redirects := make(chan string, 8)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			loc := ""
			for _, h := range ev.ResponseHeaders {
				if strings.EqualFold(h.Name, "Location") {
					loc = h.Value
				}
			}
			if ev.ResponseStatusCode == 302 && strings.HasPrefix(strings.ToLower(loc), "ms-appx-web:") {
				redirects <- loc
				_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
					RequestID: ev.RequestID, ResponseCode: 200,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html"}},
					Body:            []byte("<!DOCTYPE html><title>back to Windows</title><p>Returned to Windows.</p>"),
				})
				continue
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/EnrollmentServer/TermsOfUse*", RequestStage: fetch.RequestStageResponse},
	}}); err != nil {
		t.Fatalf("intercepting: %v", err)
	}
	return ctx, redirects
}

// touURL is the terms URL as Windows opens it.
func touURL(s *server, redirect, mode string) string {
	q := url.Values{"redirect_uri": {redirect}, "client-request-id": {"34be581c-6ebd-49d6-a4e1-150eff4b7213"}, "api-version": {"1.0"}}
	if mode != "" {
		q.Set("mode", mode)
	}
	return s.url("/EnrollmentServer/TermsOfUse?" + q.Encode())
}

// withBearer sets (or, for "", clears) the Authorization header Chromium
// sends: Windows' web view sends the Entra token on the GET only.
func withBearer(token string) chromedp.Action[chromedp.Void] {
	h := network.Headers{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
		return err
	})
}

func waitRedirect(t *testing.T, redirects <-chan string) *url.URL {
	t.Helper()
	select {
	case loc := <-redirects:
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("no redirect to ms-appx-web://")
	}
	return nil
}

// touShot saves a screenshot as dir/name.png and fails when the page is
// blank (fewer than three colours).
func touShot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	colours := map[uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y && len(colours) < 3; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 3 {
		t.Errorf("screenshot %s (%s) is blank", name, file)
	}
}

// TestEntraTermsOfUseBrowser drives the terms page in Chromium as Windows'
// web view does: the bearer token on the GET; Accept returns an OpaqueBlob
// to the ms-appx-web:// redirect URI, which then lets the device enroll
// (and is required: without it, or with another user's, the enrollment is
// refused); Decline returns IsAccepted=false; an Entra join page has no
// Decline; a bad token returns error=unauthorized_client; an https
// redirect_uri is refused with an error page, never followed.
func TestEntraTermsOfUseBrowser(t *testing.T) {
	key := entratest.NewKey("test-key-1")
	s := entraServer(t, "jwks_file "+jwksFile(t, key), true)
	ctx, redirects := touBrowser(t)
	shots := t.TempDir()
	if dir := os.Getenv("MDM_SCREENSHOTS"); dir != "" {
		shots = dir // keep them to look at
	}
	now := time.Now()
	jwt := key.Sign(entratest.V2(entraTenant, entraClientID, "grace@contoso.com", now))

	// BYOD (work account): Accept and Decline.
	if err := chromedp.Do(ctx, withBearer(jwt), chromedp.Navigate(touURL(s, touRedirect, ""))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	declines, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#decline').length`))
	if err != nil {
		t.Fatal(err)
	}
	touShot(t, ctx, shots, "terms")
	if !strings.Contains(text, entraTerms) || !strings.Contains(text, "grace@contoso.com") || !strings.Contains(text, "Contoso Entra") || declines != 1 {
		t.Fatalf("terms page (decline buttons %d):\n%s", declines, text)
	}
	if err := chromedp.Do(ctx, withBearer(""), chromedp.Click(chromedp.CSS("#accept"))); err != nil {
		t.Fatal(err)
	}
	back := waitRedirect(t, redirects)
	q := back.Query()
	blob := q.Get("OpaqueBlob")
	if back.Scheme != "ms-appx-web" || back.Host != "Microsoft.AAD.BrokerPlugin" || q.Get("IsAccepted") != "true" || blob == "" ||
		q.Get("client-request-id") != "34be581c-6ebd-49d6-a4e1-150eff4b7213" {
		t.Fatalf("accept redirected to %s", back)
	}

	// The enrollment needs that acceptance, and only that user's.
	mustFault(t, "enrollment without the terms", s.postSOAP(enrollPath, entraRST(t, "a-enroll-request.xml", jwt, "")), "s:Authorization")
	other := key.Sign(entratest.V2(entraTenant, entraClientID, "mallory@contoso.com", now).With("oid", "9f9f9f9f-0000-4000-8000-000000000001"))
	mustFault(t, "enrollment with another user's acceptance", s.postSOAP(enrollPath, entraRST(t, "a-enroll-request.xml", other, blob)), "s:Authorization")
	out, err := s.emulateEntra("--jwt", jwt, "--enrollment", "full", "--enrollment-data", blob)
	id := mustPass(t, "enrollment with the accepted terms", out, err)
	if rec := storedEntraDevice(t, s, id); rec.User != "grace@contoso.com" || rec.TenantID != entraTenant {
		t.Errorf("device record %+v", rec)
	}

	if err := chromedp.Do(ctx, withBearer(jwt), chromedp.Navigate(touURL(s, touRedirect, "")),
		withBearer(""), chromedp.Click(chromedp.CSS("#decline"))); err != nil {
		t.Fatal(err)
	}
	back = waitRedirect(t, redirects)
	if q := back.Query(); q.Get("IsAccepted") != "false" || q.Get("OpaqueBlob") != "" {
		t.Fatalf("decline redirected to %s", back)
	}

	// Entra join: the terms cannot be declined.
	if err := chromedp.Do(ctx, withBearer(jwt), chromedp.Navigate(touURL(s, touRedirect, "azureadjoin")),
		chromedp.WaitVisible(chromedp.CSS("#accept"))); err != nil {
		t.Fatal(err)
	}
	if declines, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#decline').length`)); err != nil {
		t.Fatal(err)
	}
	touShot(t, ctx, shots, "terms-azureadjoin")
	if declines != 0 {
		t.Fatal("the Entra join page offers Decline")
	}
	if err := chromedp.Do(ctx, withBearer(""), chromedp.Click(chromedp.CSS("#accept"))); err != nil {
		t.Fatal(err)
	}
	if back = waitRedirect(t, redirects); back.Query().Get("IsAccepted") != "true" || back.Query().Get("OpaqueBlob") == "" {
		t.Fatalf("azureadjoin accept redirected to %s", back)
	}

	// A token of another tenant: straight back to Windows with the error.
	foreign := key.Sign(entratest.V2(entraOther, entraClientID, "eve@evil.example", now))
	if err := chromedp.Do(ctx, withBearer(foreign), chromedp.Navigate(touURL(s, touRedirect, "azureadjoin"))); err != nil {
		t.Fatal(err)
	}
	back = waitRedirect(t, redirects)
	if q := back.Query(); q.Get("error") != "unauthorized_client" || q.Get("error_description") == "" || q.Get("OpaqueBlob") != "" {
		t.Fatalf("bad token redirected to %s", back)
	}

	// An https redirect_uri is never followed: an error page instead.
	if err := chromedp.Do(ctx, withBearer(jwt), chromedp.Navigate(touURL(s, "https://evil.example/collect", ""))); err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".error")))
	if err != nil {
		t.Fatal(err)
	}
	touShot(t, ctx, shots, "refused-redirect")
	select {
	case loc := <-redirects:
		t.Fatalf("redirected to %s", loc)
	default:
	}
	if status == "" {
		t.Error("no error shown for an https redirect_uri")
	}
}
