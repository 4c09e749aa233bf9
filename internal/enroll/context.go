package enroll

import (
	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/soap"
)

// maxContextItems bounds how many AdditionalContext items are read.
const maxContextItems = 256

// AdditionalContext is the ac:AdditionalContext of a RequestSecurityToken:
// name → values (MAC repeats). Every value is an untrusted hint.
type AdditionalContext map[string][]string

// Get returns the first value of name, or "".
func (c AdditionalContext) Get(name string) string {
	if v := c[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseAdditionalContext(e *etree.Element) AdditionalContext {
	c := AdditionalContext{}
	for i, item := range soap.Children(e, "ContextItem") {
		if i == maxContextItems {
			break
		}
		name := item.SelectAttrValue("Name", "")
		c[name] = append(c[name], soap.Text(soap.Child(item, "Value")))
	}
	return c
}
