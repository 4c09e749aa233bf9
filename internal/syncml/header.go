package syncml

import (
	"bytes"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// ParseHeader reads only the SyncHdr of a message whose body may be
// malformed or truncated after it, so that a broken message can still be
// answered in SyncML (a SyncHdr status) instead of plain HTTP. ok is false
// when no well-formed SyncML root and SyncHdr precede the damage.
func ParseHeader(data []byte) (h Header, ok bool) {
	end := bytes.Index(data, []byte("</SyncHdr>"))
	if end < 0 {
		return Header{}, false
	}
	prefix := append(append([]byte(nil), data[:end+len("</SyncHdr>")]...), "</SyncML>"...)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(bytes.TrimSpace(prefix)); err != nil {
		return Header{}, false
	}
	root := doc.Root()
	if root == nil || root.Tag != "SyncML" {
		return Header{}, false
	}
	hdr := xmltree.Child(root, "SyncHdr")
	if hdr == nil {
		return Header{}, false
	}
	return parseHeader(hdr), true
}
