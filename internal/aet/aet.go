// Package aet reads application enrollment token files (.aetx), as
// Microsoft's AETGenerator writes them for Windows Phone 8 company app
// distribution: an XML document whose Enterprise ID and enrollment token
// the provisioning document must repeat exactly (pitfall P10).
//
// The format is not published. The reader looks for the values by element
// name, ignoring case and namespace: the Enterprise ID in AETId,
// EnterpriseId or PublisherId, the token in AETToken or EnrollmentToken.
// A file holding neither is refused with the names it looked for.
package aet

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/beevik/etree"
)

// Token is what a .aetx file holds for enrollment.
type Token struct {
	EnterpriseID    string
	EnrollmentToken string
}

var (
	enterpriseIDNames = []string{"aetid", "enterpriseid", "publisherid"}
	tokenNames        = []string{"aettoken", "enrollmenttoken"}
)

// maxFile bounds what is read; real tokens are a few KiB.
const maxFile = 1 << 20

// ReadFile reads and parses a .aetx file.
func ReadFile(name string) (*Token, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("application enrollment token: %v", err)
	}
	if fi.Size() > maxFile {
		return nil, fmt.Errorf("application enrollment token %s: %d bytes, not an .aetx file", name, fi.Size())
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("application enrollment token: %v", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("application enrollment token %s: %v", name, err)
	}
	return t, nil
}

// Parse reads the Enterprise ID and the enrollment token of an .aetx file.
func Parse(b []byte) (*Token, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("not XML: %v", err)
	}
	if doc.Root() == nil {
		return nil, errors.New("empty document")
	}
	t := &Token{}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		name := strings.ToLower(e.Tag)
		v := strings.TrimSpace(e.Text())
		for _, n := range enterpriseIDNames {
			if name == n && t.EnterpriseID == "" && v != "" {
				t.EnterpriseID = v
			}
		}
		for _, n := range tokenNames {
			if name == n && t.EnrollmentToken == "" && v != "" {
				t.EnrollmentToken = v
			}
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(doc.Root())
	var errs []error
	if t.EnterpriseID == "" {
		errs = append(errs, errors.New("no Enterprise ID (looked for AETId, EnterpriseId, PublisherId)"))
	}
	if t.EnrollmentToken == "" {
		errs = append(errs, errors.New("no enrollment token (looked for AETToken, EnrollmentToken)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}
