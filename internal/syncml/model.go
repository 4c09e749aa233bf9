package syncml

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

// Status codes used by the server and read from devices (OMA DM 1.2 §10).
const (
	StatusOK                  = 200
	StatusAccepted            = 202
	StatusAuthAccepted        = 212
	StatusChunkAccepted       = 213
	StatusOperationCancelled  = 215
	StatusBadRequest          = 400
	StatusInvalidCredentials  = 401
	StatusForbidden           = 403
	StatusNotFound            = 404
	StatusNotAllowed          = 405
	StatusOptionalNotSupp     = 406
	StatusMissingCredentials  = 407
	StatusIncompleteCommand   = 412
	StatusEntityTooLarge      = 413
	StatusSizeMismatch        = 424
	StatusCommandFailed       = 500
	StatusVersionNotSupported = 505
	StatusAtomicFailed        = 507
)

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
