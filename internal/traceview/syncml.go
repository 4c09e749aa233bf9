package traceview

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// maxSummaryData bounds the data shown in a summary line; the full value
// is in the XML below it.
const maxSummaryData = 80

// maxSummaryLines bounds a summary: a message of thousands of commands is
// summarised by its first ones.
const maxSummaryLines = 500

// summarizeSyncML reads a SyncML message's header and commands.
func summarizeSyncML(root *etree.Element) (string, []string) {
	hdr := child(root, "SyncHdr")
	title := fmt.Sprintf("SyncML session %s message %s, from %s to %s",
		orDash(text(child(hdr, "SessionID"))), orDash(text(child(hdr, "MsgID"))),
		orDash(text(path(hdr, "Source", "LocURI"))), orDash(text(path(hdr, "Target", "LocURI"))))
	if cred := child(hdr, "Cred"); cred != nil {
		title += ", with credentials (" + orDash(text(find(cred, "type"))) + ")"
	}
	s := &syncSummary{}
	if body := child(root, "SyncBody"); body != nil {
		s.commands(body, 0)
	}
	if len(s.lines) >= maxSummaryLines {
		s.lines = append(s.lines[:maxSummaryLines], "… more commands (see the message below)")
	}
	return title, s.lines
}

type syncSummary struct {
	lines []string
}

func (s *syncSummary) commands(parent *etree.Element, depth int) {
	for _, c := range parent.ChildElements() {
		if len(s.lines) >= maxSummaryLines {
			return
		}
		name := localName(c.Tag)
		pad := strings.Repeat("  ", depth)
		if strings.EqualFold(name, "Final") {
			s.lines = append(s.lines, pad+"Final (end of package)")
			continue
		}
		if strings.EqualFold(name, "CmdID") || strings.EqualFold(name, "Meta") || strings.EqualFold(name, "NoResp") {
			continue // parts of an Atomic or Sequence, not commands
		}
		s.lines = append(s.lines, pad+describeCommand(c, name))
		if strings.EqualFold(name, "Atomic") || strings.EqualFold(name, "Sequence") {
			s.commands(c, depth+1)
		}
	}
}

// describeCommand is one line for a SyncML command: its CmdID, verb and
// what it is about.
func describeCommand(c *etree.Element, name string) string {
	line := "[" + orDash(text(child(c, "CmdID"))) + "] " + name
	switch strings.ToLower(name) {
	case "status":
		code := text(child(c, "Data"))
		line += " " + code
		if meaning := statusMeaning[code]; meaning != "" {
			line += " (" + meaning + ")"
		}
		line += " for " + orDash(text(child(c, "Cmd"))) + " " + orDash(text(child(c, "MsgRef"))) + ":" + orDash(text(child(c, "CmdRef")))
		if chal := child(c, "Chal"); chal != nil {
			line += ", challenge " + orDash(text(find(chal, "type")))
		}
		for _, it := range children(c, "Item") {
			if d := text(child(it, "Data")); d != "" {
				line += " " + short(d)
			}
		}
	case "alert":
		code := text(child(c, "Data"))
		line += " " + code
		if meaning := alertMeaning[code]; meaning != "" {
			line += " " + meaning
		}
		for _, it := range children(c, "Item") {
			if t := text(path(it, "Meta", "Type")); t != "" {
				line += " " + t
			}
			if d := text(child(it, "Data")); d != "" {
				line += " = " + short(d)
			}
		}
	case "results":
		line += " for " + orDash(text(child(c, "MsgRef"))) + ":" + orDash(text(child(c, "CmdRef")))
		line += items(c, true)
	case "atomic", "sequence":
		line += fmt.Sprintf(" of %d commands", countCommands(c))
	default:
		line += items(c, strings.EqualFold(name, "Replace") || strings.EqualFold(name, "Add") || strings.EqualFold(name, "Exec"))
	}
	return line
}

// items lists the LocURIs of a command's items (at most three), with their
// data when withData.
func items(c *etree.Element, withData bool) string {
	var b strings.Builder
	all := children(c, "Item")
	for i, it := range all {
		if i == 3 {
			fmt.Fprintf(&b, " … (%d items)", len(all))
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		uri := text(path(it, "Target", "LocURI"))
		if uri == "" {
			uri = text(path(it, "Source", "LocURI"))
		}
		b.WriteString(" " + orDash(uri))
		if d := child(it, "Data"); withData && d != nil {
			b.WriteString(" = " + short(dataText(d)))
		}
	}
	return b.String()
}

// dataText is an item's data as one line: its text, or a note that it is
// XML.
func dataText(d *etree.Element) string {
	if len(d.ChildElements()) > 0 {
		return "(XML)"
	}
	return strings.TrimSpace(d.Text())
}

func countCommands(c *etree.Element) int {
	n := 0
	for _, k := range c.ChildElements() {
		switch strings.ToLower(localName(k.Tag)) {
		case "cmdid", "meta", "noresp":
		default:
			n++
		}
	}
	return n
}

// children lists e's child elements named local; none when e is nil (a
// message missing the parent is still summarized).
func children(e *etree.Element, local string) []*etree.Element {
	if e == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if strings.EqualFold(localName(c.Tag), local) {
			out = append(out, c)
		}
	}
	return out
}

func localName(tag string) string {
	if i := strings.LastIndexByte(tag, ':'); i >= 0 {
		return tag[i+1:]
	}
	return tag
}

// short cuts s to one line of at most maxSummaryData characters.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxSummaryData {
		return string(r[:maxSummaryData]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// statusMeaning names the SyncML status codes devices and this server use.
var statusMeaning = map[string]string{
	"200": "OK",
	"202": "accepted for processing",
	"212": "authenticated",
	"213": "chunk accepted",
	"214": "operation cancelled",
	"215": "not executed",
	"216": "atomic rolled back",
	"400": "bad request",
	"401": "invalid credentials",
	"403": "forbidden",
	"404": "not found",
	"405": "command not allowed",
	"406": "optional feature not supported",
	"407": "credentials missing",
	"418": "already exists",
	"424": "size mismatch",
	"425": "permission denied",
	"500": "command failed",
	"505": "DTD version not supported",
	"507": "atomic failed",
	"516": "atomic roll back failed",
}

// alertMeaning names the alert codes of OMA-DM and Windows.
var alertMeaning = map[string]string{
	"1200": "server-initiated session",
	"1201": "client-initiated session",
	"1222": "next message",
	"1223": "session abort",
	"1224": "client event",
	"1226": "generic alert",
}
