package integration

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of a program a test starts itself
// (chromium, redis-server). When it is not on PATH the test is skipped
// with a message saying what to install, unless MDM_REQUIRE_TOOLS=1 (as in
// CI, whose .ci/run installs them), where a missing tool fails the test.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " is not installed (not on PATH): install it (Debian: apt-get install " + debianPackage(name) + ") to run this test"
	if os.Getenv("MDM_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + "; MDM_REQUIRE_TOOLS=1 makes a missing tool a failure")
	}
	t.Skip(msg)
	return ""
}

// debianPackage names the Debian package of a tool.
func debianPackage(name string) string {
	switch name {
	case "redis-server":
		return "redis-server"
	case "chromium":
		return "chromium"
	}
	return name
}
