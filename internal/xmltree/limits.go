package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Limits bound what building a tree from a document may cost. A tree costs
// a few hundred bytes per node whatever the node's size, so a 1 MB body of
// empty elements would take about 70 MB to build: Check counts nodes with a
// streaming scan, which allocates only per token, before any tree exists.
type Limits struct {
	// MaxNodes bounds elements, attributes, text runs and comments together.
	MaxNodes int
	// MaxDepth bounds element nesting.
	MaxDepth int
}

// ErrLimit marks a document refused for its shape rather than its syntax.
var ErrLimit = errors.New("document exceeds the parse limits")

// Check scans data and reports ErrLimit (wrapped, with the reason) when it
// holds more nodes or deeper nesting than l allows. Syntax errors are not
// its concern: it returns nil for them and leaves the report to the parser,
// which says more.
func (l Limits) Check(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	nodes, depth := 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			nodes += 1 + len(t.Attr)
			depth++
			if l.MaxDepth > 0 && depth > l.MaxDepth {
				return fmt.Errorf("%w: elements nested deeper than %d", ErrLimit, l.MaxDepth)
			}
		case xml.EndElement:
			depth--
		default:
			nodes++
		}
		if l.MaxNodes > 0 && nodes > l.MaxNodes {
			return fmt.Errorf("%w: more than %d elements, attributes and text nodes", ErrLimit, l.MaxNodes)
		}
	}
}
