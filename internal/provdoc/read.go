package provdoc

import (
	"fmt"

	"github.com/beevik/etree"
)

// Node is one characteristic of a parsed provisioning document. Reading a
// document back is what a device does; the emulator and the tests use it to
// check what the server wrote.
type Node struct {
	Type     string
	Parms    map[string]Parm
	Children []*Node
}

// Parm is one parm: its value, datatype, and whether it had a value
// attribute at all (BACKCOMPATRETRYDISABLED has none).
type Parm struct {
	Value    string
	Datatype string
	HasValue bool
}

// Parse reads a wap-provisioningdoc into its characteristic tree; the
// returned root has the document's top-level characteristics as children.
func Parse(b []byte) (*Node, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("provisioning document: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "wap-provisioningdoc" {
		return nil, fmt.Errorf("provisioning document: root is not wap-provisioningdoc")
	}
	if v := root.SelectAttrValue("version", ""); v != "1.1" {
		return nil, fmt.Errorf("provisioning document: version %q, want 1.1", v)
	}
	return readNode(root), nil
}

func readNode(e *etree.Element) *Node {
	n := &Node{Type: e.SelectAttrValue("type", ""), Parms: map[string]Parm{}}
	for _, c := range e.ChildElements() {
		switch c.Tag {
		case "parm":
			v := c.SelectAttr("value")
			p := Parm{Datatype: c.SelectAttrValue("datatype", ""), HasValue: v != nil}
			if v != nil {
				p.Value = v.Value
			}
			n.Parms[c.SelectAttrValue("name", "")] = p
		case "characteristic":
			n.Children = append(n.Children, readNode(c))
		}
	}
	return n
}

// Child returns the first child characteristic of the given type, or nil.
func (n *Node) Child(typ string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.Children {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

// ChildrenOf returns every child characteristic of the given type.
func (n *Node) ChildrenOf(typ string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, c := range n.Children {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// ChildrenOrNil returns the child characteristics, or nil for a nil node.
func (n *Node) ChildrenOrNil() []*Node {
	if n == nil {
		return nil
	}
	return n.Children
}

// Find follows characteristic types down: Find("CertificateStore", "Root").
func (n *Node) Find(path ...string) *Node {
	for _, p := range path {
		n = n.Child(p)
	}
	return n
}

// Value returns a parm's value, or "".
func (n *Node) Value(name string) string {
	if n == nil {
		return ""
	}
	return n.Parms[name].Value
}
