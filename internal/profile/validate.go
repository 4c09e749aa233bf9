package profile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
	"github.com/caddy-mdm/caddy-mdm/internal/xmltree"
)

// Bounds of a profile.
const (
	// MaxSyncMLSize bounds a profile's fragment: real profiles are a few
	// KiB; an ADMX ingestion payload stays well under this.
	MaxSyncMLSize = 256 << 10
	// MaxElements bounds the elements of a fragment.
	MaxElements = 10000
	// MaxDepth bounds nesting (SyncML commands nest three or four deep;
	// XML data a little more).
	MaxDepth = 32
	// MaxCommands bounds the top-level commands (Atomic children included).
	MaxCommands = 200
	// MaxRetries bounds the retries of a failed delivery.
	MaxRetries = 20
	// DefaultRetries is how often a failed delivery is retried by default.
	DefaultRetries = 3
)

// ErrInvalid marks a profile refused at upload; the message says what to fix.
var ErrInvalid = errors.New("invalid profile")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// invalidLabel is ErrInvalid for a label, which no profile is involved in:
// "invalid label: ...", and errors.Is(err, ErrInvalid) still holds.
func invalidLabel(format string, a ...any) error {
	return labelError{fmt.Sprintf(format, a...)}
}

type labelError struct{ msg string }

func (e labelError) Error() string        { return "invalid label: " + e.msg }
func (e labelError) Is(target error) bool { return target == ErrInvalid }

// locURIRoots are where a profile's LocURIs may point: the device and user
// trees, and the legacy ./Vendor/MSFT root (device scope).
var locURIRoots = []string{"./Device/", "./User/", "./Vendor/MSFT/"}

// Parsed is a validated fragment: its commands as queue specs (one per
// top-level command, or the Atomic), and the settings they make.
type Parsed struct {
	Commands []store.CommandSpec
	Settings []store.ProfileSetting
}

// byteOrderMark starts files that Windows editors save as UTF-8; it is not
// part of the XML.
const byteOrderMark = "\ufeff"

// Validate checks a SyncML fragment as an admin copies it from Microsoft's
// CSP documentation and parses it: top-level Replace/Add/Exec commands, or
// one Atomic around such commands, on ./Device/..., ./User/... or
// ./Vendor/MSFT/... LocURIs. It refuses, saying what to fix: malformed XML,
// no command, Get or Delete (not settings), CDATA (Windows refuses it),
// Get inside Atomic, other LocURI roots, unknown variables, and sizes over
// the bounds.
func Validate(fragment string) (*Parsed, error) {
	fragment = strings.TrimPrefix(fragment, byteOrderMark)
	if len(fragment) > MaxSyncMLSize {
		return nil, invalid("the SyncML is %d bytes, over the limit of %d", len(fragment), MaxSyncMLSize)
	}
	if strings.TrimSpace(fragment) == "" {
		return nil, invalid("no SyncML given: give Replace, Add or Exec commands")
	}
	if strings.Contains(fragment, "<![CDATA[") {
		return nil, invalid("CDATA sections are refused by Windows: escape the data instead (&lt; for <, &amp; for &)")
	}
	if err := checkVariables(fragment); err != nil {
		return nil, err
	}
	body := strings.TrimSpace(fragment)
	if strings.HasPrefix(body, "<?xml") {
		if end := strings.Index(body, "?>"); end >= 0 {
			body = body[end+2:]
		}
	}
	if strings.Contains(body, "<!DOCTYPE") || strings.Contains(body, "<!ENTITY") {
		return nil, invalid("DOCTYPE and ENTITY declarations are not allowed")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString("<Fragment>" + body + "</Fragment>"); err != nil {
		return nil, invalid("the SyncML is not well-formed XML: %v", err)
	}
	root := doc.Root()
	if n, deep := count(root, 0); n > MaxElements || deep {
		return nil, invalid("the SyncML has more than %d elements or nests deeper than %d", MaxElements, MaxDepth)
	}
	for _, tok := range root.Child {
		if t, ok := tok.(*etree.CharData); ok && strings.TrimSpace(t.Data) != "" {
			return nil, invalid("text %q outside any command: give only SyncML command elements", clip(strings.TrimSpace(t.Data)))
		}
	}
	p := &Parsed{}
	cmds := root.ChildElements()
	if len(cmds) == 0 {
		return nil, invalid("no command: give Replace, Add or Exec commands (optionally inside one Atomic)")
	}
	if cmds[0].Tag == "SyncML" || cmds[0].Tag == "SyncBody" {
		return nil, invalid("give the commands only, not a whole SyncML message or SyncBody")
	}
	for _, e := range cmds {
		if e.Tag == syncml.CmdAtomic && len(cmds) > 1 {
			return nil, invalid("an Atomic must be the only top-level command: put every command inside it")
		}
		spec, err := command(e, "", p)
		if err != nil {
			return nil, err
		}
		p.Commands = append(p.Commands, *spec)
	}
	n := 0
	for i := range p.Commands {
		n += 1 + len(p.Commands[i].Commands)
	}
	if n > MaxCommands {
		return nil, invalid("%d commands, over the limit of %d", n, MaxCommands)
	}
	return p, nil
}

func count(e *etree.Element, depth int) (int, bool) {
	if depth > MaxDepth {
		return 1, true
	}
	n := 1
	for _, c := range e.ChildElements() {
		m, deep := count(c, depth+1)
		n += m
		if deep {
			return n, true
		}
	}
	return n, false
}

// command reads one command element into a spec.
func command(e *etree.Element, parent string, p *Parsed) (*store.CommandSpec, error) {
	switch e.Tag {
	case syncml.CmdReplace, syncml.CmdAdd, syncml.CmdExec:
	case syncml.CmdAtomic:
		if parent != "" {
			return nil, invalid("no Atomic inside %s", parent)
		}
		spec := &store.CommandSpec{Verb: syncml.CmdAtomic}
		for _, c := range e.ChildElements() {
			switch c.Tag {
			case "CmdID", "Meta", "NoResp":
				continue
			}
			child, err := command(c, syncml.CmdAtomic, p)
			if err != nil {
				return nil, err
			}
			spec.Commands = append(spec.Commands, *child)
		}
		if len(spec.Commands) == 0 {
			return nil, invalid("the Atomic holds no command")
		}
		return spec, nil
	case syncml.CmdGet:
		if parent == syncml.CmdAtomic {
			return nil, invalid("Get inside Atomic is refused by Windows (and a Get is not a setting): remove it")
		}
		return nil, invalid("Get reads a value, it is not a setting: use the verify option to read settings back")
	case syncml.CmdDelete:
		return nil, invalid("Delete is not a setting: removal is automatic when a profile is deleted or a device leaves its targets")
	case syncml.CmdSequence:
		return nil, invalid("Sequence is not supported in profiles: give the commands one after the other (they are delivered in order)")
	default:
		return nil, invalid("<%s> is not a SyncML command: give Replace, Add or Exec (optionally inside one Atomic)", clip(e.Tag))
	}
	spec := &store.CommandSpec{Verb: e.Tag}
	var cmdMeta *syncml.Meta
	if m := e.SelectElement("Meta"); m != nil {
		cmdMeta = meta(m)
	}
	for _, c := range e.ChildElements() {
		switch c.Tag {
		case "CmdID", "Meta", "NoResp", "Item":
		default:
			return nil, invalid("%s holds <%s>: only CmdID, Meta and Item belong there", e.Tag, clip(c.Tag))
		}
	}
	items := e.SelectElements("Item")
	if len(items) == 0 {
		return nil, invalid("%s has no Item: give each command an Item with a Target LocURI", e.Tag)
	}
	if e.Tag == syncml.CmdExec && len(items) != 1 {
		return nil, invalid("Exec takes exactly one Item")
	}
	for _, ie := range items {
		it, err := item(e.Tag, ie, cmdMeta)
		if err != nil {
			return nil, err
		}
		spec.Items = append(spec.Items, it)
		if e.Tag != syncml.CmdExec {
			p.Settings = append(p.Settings, store.ProfileSetting{LocURI: it.Target, Format: it.Format, Data: it.Data})
		}
	}
	return spec, nil
}

func item(verb string, e *etree.Element, cmdMeta *syncml.Meta) (store.ItemSpec, error) {
	var it store.ItemSpec
	t := e.SelectElement("Target")
	if t == nil || t.SelectElement("LocURI") == nil || strings.TrimSpace(t.SelectElement("LocURI").Text()) == "" {
		return it, invalid("an Item of %s has no Target LocURI", verb)
	}
	it.Target = strings.TrimSpace(t.SelectElement("LocURI").Text())
	if !validRoot(it.Target) {
		return it, invalid("LocURI %q is outside ./Device/, ./User/ and ./Vendor/MSFT/", clip(it.Target))
	}
	if strings.Contains(it.Target, "/../") || strings.HasSuffix(it.Target, "/..") || strings.ContainsAny(it.Target, " \t\r\n") {
		return it, invalid("LocURI %q holds a '..' segment or white space", clip(it.Target))
	}
	m := meta(e.SelectElement("Meta"))
	if m == nil {
		m = cmdMeta
	}
	if m != nil {
		it.Format, it.Type = m.Format, m.Type
	}
	if d := e.SelectElement("Data"); d != nil {
		if len(d.ChildElements()) > 0 {
			it.Data, it.DataXML = xmltree.InnerXML(d), true
		} else {
			it.Data = d.Text()
		}
	}
	if (verb == syncml.CmdReplace || verb == syncml.CmdAdd) && e.SelectElement("Data") == nil && it.Format != "node" {
		return it, invalid("%s of %s has no Data", verb, clip(it.Target))
	}
	return it, nil
}

func meta(e *etree.Element) *syncml.Meta {
	if e == nil {
		return nil
	}
	m := &syncml.Meta{}
	if f := e.SelectElement("Format"); f != nil {
		m.Format = strings.TrimSpace(f.Text())
	}
	if t := e.SelectElement("Type"); t != nil {
		m.Type = strings.TrimSpace(t.Text())
	}
	return m
}

func validRoot(uri string) bool {
	for _, r := range locURIRoots {
		if strings.HasPrefix(uri, r) && len(uri) > len(r) {
			return true
		}
	}
	return false
}

// NormalizeLocURI makes LocURIs that name the same node compare equal:
// ./Vendor/MSFT/... is the device-scope ./Device/Vendor/MSFT/....
func NormalizeLocURI(uri string) string {
	if strings.HasPrefix(uri, "./Vendor/MSFT/") {
		return "./Device" + uri[1:]
	}
	return uri
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
