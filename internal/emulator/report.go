package emulator

import (
	"fmt"
	"io"
	"strings"
)

// Check is one verified expectation: a pitfall, a protocol rule.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
}

// Report collects the checks of a run.
type Report struct {
	Checks []Check `json:"checks"`
}

// check records a check; detail explains a failure (or a pass worth noting).
func (r *Report) check(name string, pass bool, format string, args ...any) bool {
	r.Checks = append(r.Checks, Check{Name: name, Pass: pass, Detail: fmt.Sprintf(format, args...)})
	return pass
}

// Failed counts the failed checks.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if !c.Pass {
			n++
		}
	}
	return n
}

// Print writes one line per check.
func (r *Report) Print(w io.Writer) {
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		line := verdict + "  " + c.Name
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	fmt.Fprintf(w, "%d checks, %d failed\n", len(r.Checks), r.Failed())
}
