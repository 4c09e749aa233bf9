package xmltree

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"unsafe"
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
	if err, ok := l.checkFast(data); ok {
		return err
	}
	return l.checkDecoder(data)
}

// checkDecoder is Check with encoding/xml's tokenizer (the reference).
func (l Limits) checkDecoder(data []byte) error {
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

// checkFast counts as Check does, without allocating, for documents Scan
// reads with prefixed names allowed (what devices send: SyncML, and SOAP
// envelopes, whose names all have prefixes); ok is false when it cannot tell, and Check
// then scans with encoding/xml. Scan reports the tokens RawToken would, in
// the same order, so the two agree on the count and on which bound is
// passed first.
func (l Limits) checkFast(data []byte) (err error, ok bool) {
	if len(data) == 0 {
		return nil, false
	}
	// Scan only reads s during this call and keeps nothing of it.
	s := unsafe.String(&data[0], len(data))
	nodes, depth := 0, 0
	done := scanQualified(s, func(ev Event, _, _ string) bool {
		switch ev {
		case StartEvent:
			nodes++
			depth++
			if l.MaxDepth > 0 && depth > l.MaxDepth {
				err = fmt.Errorf("%w: elements nested deeper than %d", ErrLimit, l.MaxDepth)
				return false
			}
		case EndEvent:
			depth--
			return true
		default:
			nodes++
		}
		if l.MaxNodes > 0 && nodes > l.MaxNodes {
			err = fmt.Errorf("%w: more than %d elements, attributes and text nodes", ErrLimit, l.MaxNodes)
			return false
		}
		return true
	})
	if err != nil {
		return err, true
	}
	return nil, done
}
