package integration

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-mdm/caddy-mdm/internal/capture"
)

// TestParseMemoryIsBounded sends, to every endpoint, 16 concurrent bodies of
// the largest size it accepts made of tiny elements (the shape that costs a
// parser most per byte: about 70 bytes of tree per byte of input), then
// well-formed ones just inside the element bound, and checks that the
// server's peak RSS grew by less than 300 MB. Peak RSS is what the kernel
// counted (VmHWM), not a timing.
func TestParseMemoryIsBounded(t *testing.T) {
	s := startCaddy(t, "quickstart.Caddyfile")
	enrollDevice(t, s, "a-enroll-request.xml", deviceA) // warm every path
	before := peakRSS(t, s.cmd.Process.Pid)

	soapOf := func(size int) []byte {
		env := capture.Read(t, "a-discovery-request.xml")
		i := bytes.Index(env, []byte("</s:Body>"))
		if i < 0 {
			t.Fatal("discovery capture has no </s:Body>")
		}
		filler := bytes.Repeat([]byte("<a/>"), (size-len(env))/4)
		return append(append(append([]byte(nil), env[:i]...), filler...), env[i:]...)
	}
	syncmlOf := func(size int, element string) []byte {
		msg := capture.Read(t, "a-syncml-session1-msg1.xml")
		i := bytes.Index(msg, []byte("<Final/>"))
		filler := bytes.Repeat([]byte(element), (size-len(msg))/len(element))
		return append(append(append([]byte(nil), msg[:i]...), filler...), msg[i:]...)
	}
	mib := 1 << 20
	for _, c := range []struct {
		name, path, ctype string
		body              []byte
	}{
		{"discovery", "/EnrollmentServer/Discovery.svc", "application/soap+xml; charset=utf-8", soapOf(64 << 10)},
		{"policy", "/EnrollmentServer/Policy.svc", "application/soap+xml; charset=utf-8", soapOf(64 << 10)},
		{"enrollment", "/EnrollmentServer/Enrollment.svc", "application/soap+xml; charset=utf-8", soapOf(256 << 10)},
		{"enrollment, over its limit", "/EnrollmentServer/Enrollment.svc", "application/soap+xml; charset=utf-8", soapOf(mib)},
		{"management, tiny elements", managePath, syncmlMedia, syncmlOf(mib, "<a/>")},
		{"management, within the element bound", managePath, syncmlMedia,
			syncmlOf(mib, "<Replace><CmdID>9</CmdID><Item><Data>"+strings.Repeat("x", 120)+"</Data></Item></Replace>")},
	} {
		var wg sync.WaitGroup
		codes := make([]int, 16)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = s.do(s.newClient(s.roots, true), "POST", c.path, c.ctype, c.body).StatusCode
			}()
		}
		wg.Wait()
		for _, code := range codes {
			if code == 200 && !strings.HasPrefix(c.name, "management") {
				t.Errorf("%s: a %d-byte body of tiny elements was served", c.name, len(c.body))
			}
		}
		t.Logf("%s: %d-byte bodies answered %v", c.name, len(c.body), codes[:2])
	}
	after := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB before, %d MiB after", before>>20, after>>20)
	if after-before > 300<<20 {
		t.Errorf("16 concurrent maximum-size bodies raised peak RSS by %d MiB (bound: 300)", (after-before)>>20)
	}
}

// peakRSS returns a process's peak resident set size in bytes (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
