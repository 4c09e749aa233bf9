package caddymdm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeQuickstartHeading introduces, in README.md, the quickstart shown in
// full; the fenced block after it must be caddyfile-examples/quickstart.Caddyfile.
const readmeQuickstartHeading = "The quickstart, in full"

// TestReadmeShowsQuickstart fails when the README's copy of the quickstart
// drifts from the file it names: the block is the file, comments included.
func TestReadmeShowsQuickstart(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := readmeBlockAfter(string(readme), readmeQuickstartHeading)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join("..", "caddyfile-examples", "quickstart.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(string(file), "\r\n", "\n")
	if block == want {
		return
	}
	got, exp := strings.Split(block, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(got) || i < len(exp); i++ {
		var g, e string
		if i < len(got) {
			g = got[i]
		}
		if i < len(exp) {
			e = exp[i]
		}
		if g != e {
			t.Fatalf("README.md %q block differs from caddyfile-examples/quickstart.Caddyfile at line %d of the file:\nREADME: %q\nfile:   %q\n(copy the file into the README block)",
				readmeQuickstartHeading, i+1, g, e)
		}
	}
	t.Fatal("README.md quickstart block differs from caddyfile-examples/quickstart.Caddyfile")
}

// readmeBlockAfter returns the content of the first ```caddyfile fenced block
// after the line that starts with heading, each line ending in "\n".
func readmeBlockAfter(readme, heading string) (string, error) {
	lines := strings.Split(strings.ReplaceAll(readme, "\r\n", "\n"), "\n")
	i := 0
	for i < len(lines) && !strings.HasPrefix(lines[i], heading) {
		i++
	}
	if i == len(lines) {
		return "", fmt.Errorf("README.md has no line starting with %q", heading)
	}
	for i++; i < len(lines) && strings.TrimSpace(lines[i]) == ""; i++ {
	}
	if i == len(lines) || lines[i] != "```caddyfile" {
		return "", fmt.Errorf("README.md: no ```caddyfile block right after %q", heading)
	}
	var b strings.Builder
	for i++; i < len(lines); i++ {
		if lines[i] == "```" {
			return b.String(), nil
		}
		b.WriteString(lines[i])
		b.WriteByte('\n')
	}
	return "", fmt.Errorf("README.md: the block after %q is not closed", heading)
}

func TestReadmeBlockAfter(t *testing.T) {
	md := "x\n" + readmeQuickstartHeading + " (file):\n\n```caddyfile\n{\n}\n```\nafter\n"
	got, err := readmeBlockAfter(md, readmeQuickstartHeading)
	if err != nil || got != "{\n}\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{
		"no heading\n```caddyfile\n{\n}\n```\n",
		readmeQuickstartHeading + ":\n\ntext\n```caddyfile\n{\n}\n```\n",
		readmeQuickstartHeading + ":\n```caddyfile\n{\n",
	} {
		if _, err := readmeBlockAfter(bad, readmeQuickstartHeading); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}
