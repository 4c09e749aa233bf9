package syncml

import (
	"strconv"
	"strings"
)

// Namespaces and protocol versions written in every message.
const (
	NS       = "SYNCML:SYNCML1.2"
	NSMetInf = "syncml:metinf"
	VerDTD   = "1.2"
	VerProto = "DM/1.2"
	// ContentType is the media type of SyncML DM over HTTP (XML encoding).
	ContentType = "application/vnd.syncml.dm+xml"
)

// Command names.
const (
	CmdAdd      = "Add"
	CmdAlert    = "Alert"
	CmdAtomic   = "Atomic"
	CmdDelete   = "Delete"
	CmdExec     = "Exec"
	CmdGet      = "Get"
	CmdReplace  = "Replace"
	CmdResults  = "Results"
	CmdSequence = "Sequence"
	CmdStatus   = "Status"
	CmdSyncHdr  = "SyncHdr"
)

// Status is a SyncML status code (OMA DM 1.2 §10). On the wire it is the
// Data of a Status command; in the program it stays a number.
type Status int

// Status codes used by the server and read from devices (OMA DM 1.2 §10).
const (
	StatusOK                  Status = 200
	StatusAccepted            Status = 202
	StatusAuthAccepted        Status = 212
	StatusChunkAccepted       Status = 213
	StatusOperationCancelled  Status = 215
	StatusBadRequest          Status = 400
	StatusInvalidCredentials  Status = 401
	StatusForbidden           Status = 403
	StatusNotFound            Status = 404
	StatusNotAllowed          Status = 405
	StatusOptionalNotSupp     Status = 406
	StatusMissingCredentials  Status = 407
	StatusIncompleteCommand   Status = 412
	StatusEntityTooLarge      Status = 413
	StatusSizeMismatch        Status = 424
	StatusCommandFailed       Status = 500
	StatusVersionNotSupported Status = 505
	StatusAtomicFailed        Status = 507
)

// String is the code as written on the wire.
func (s Status) String() string { return strconv.Itoa(int(s)) }

// StatusOf reads the code of a Status command (0 when its Data is not a
// number).
func StatusOf(c *Command) Status {
	n, err := strconv.Atoi(strings.TrimSpace(c.Data))
	if err != nil {
		return 0
	}
	return Status(n)
}

// Alert codes.
const (
	AlertServerInitiated = "1200"
	AlertClientInitiated = "1201"
	AlertNextMessage     = "1222"
	AlertSessionAbort    = "1223"
	AlertClientEvent     = "1224"
	AlertGeneric         = "1226"
)

// Authentication meta values of digest credentials and challenges.
const (
	AuthMD5   = "syncml:auth-md5"
	FormatB64 = "b64"
)

// Message is one SyncML message.
type Message struct {
	Header Header
	// Commands are the SyncBody children in order, Final excluded.
	Commands []*Command
	Final    bool
}

// Header is the SyncHdr.
type Header struct {
	VerDTD, VerProto string
	SessionID, MsgID string
	// Target and Source are the LocURIs: the server URL and the device ID in
	// a device's message, the reverse in the server's.
	Target, Source string
	// RespURI is where the recipient sends its next message of the session
	// (OMA DM 1.2: it applies to the response to this message).
	RespURI string
	Cred    *Cred
	Meta    *Meta
}

// Cred is a SyncHdr credential: Meta Type and Format, and the digest.
type Cred struct {
	Type, Format string
	Data         string
}

// Meta is a Meta element, or the Meta of a Chal.
type Meta struct {
	Type, Format string
	NextNonce    string
	Size         string
	MaxMsgSize   string
	MaxObjSize   string
}

// Command is one SyncBody command, or a command nested in Atomic/Sequence.
type Command struct {
	Name  string
	CmdID string
	// Status and Results fields.
	MsgRef, CmdRef, Cmd string
	TargetRef           []string
	SourceRef           []string
	// Data is the command's own Data (an Alert code, a Status code).
	Data       string
	Meta       *Meta
	Chal       *Meta
	Correlator string
	NoResp     bool
	Items      []*Item
	// Children of Atomic and Sequence.
	Children []*Command
}

// Item is one Item of a command.
type Item struct {
	Target, Source string
	Meta           *Meta
	// Data is the item's data as text; DataXML marks data that is an XML
	// fragment (written unescaped), as Results may carry.
	Data     string
	DataXML  bool
	HasData  bool
	MoreData bool
}

// IsContainer reports whether a command holds other commands.
func (c *Command) IsContainer() bool {
	return c.Name == CmdAtomic || c.Name == CmdSequence
}

// ItemMeta is the Meta that applies to an item: the item's own values over
// its command's (OMA DM: a command's Meta is the default of its items).
func ItemMeta(c *Command, it *Item) Meta {
	var out Meta
	for _, m := range []*Meta{c.Meta, it.Meta} {
		if m == nil {
			continue
		}
		for _, f := range []struct {
			dst *string
			src string
		}{
			{&out.Type, m.Type}, {&out.Format, m.Format}, {&out.Size, m.Size},
			{&out.NextNonce, m.NextNonce}, {&out.MaxMsgSize, m.MaxMsgSize}, {&out.MaxObjSize, m.MaxObjSize},
		} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
	}
	return out
}
