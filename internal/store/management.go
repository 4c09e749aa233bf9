package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// CommandState is where a command is between enqueue and its end.
type CommandState string

// Command states: queued and sent are pending; acknowledged (the device
// answered with a status) and canceled are final.
const (
	CommandQueued       CommandState = "queued"
	CommandSent         CommandState = "sent"
	CommandAcknowledged CommandState = "acknowledged"
	CommandCanceled     CommandState = "canceled"
)

// Command is one management command of a device, from enqueue to result.
type Command struct {
	// ID is stable for the command's life; it sorts by enqueue time.
	ID       string      `json:"id"`
	DeviceID string      `json:"device_id"`
	Spec     CommandSpec `json:"spec"`
	// Purpose marks commands the server acts on when they are delivered:
	// "unenroll" retires the device.
	Purpose string       `json:"purpose,omitempty"`
	State   CommandState `json:"state"`
	// Status is the device's status code for the command (Atomic/Sequence:
	// the container's), 0 until one arrives.
	Status int `json:"status,omitempty"`
	// ChildStatuses are the codes of an Atomic's or Sequence's commands.
	ChildStatuses []int    `json:"child_statuses,omitempty"`
	Results       []Result `json:"results,omitempty"`
	// Attempts counts the sessions the command was sent in.
	Attempts  int       `json:"attempts,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	SentAt    time.Time `json:"sent_at,omitzero"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

// CommandSpec is what to send: a verb with items, or an Atomic/Sequence of
// commands.
type CommandSpec struct {
	Verb     string        `json:"verb"`
	Items    []ItemSpec    `json:"items,omitempty"`
	Commands []CommandSpec `json:"commands,omitempty"`
	// Sensitive marks secret data (Wi-Fi keys, VPN secrets, PFX passwords):
	// the command is delivered as is, but its item data, and the results the
	// device returns for it, are REDACTED in logs, device traces and the
	// admin API and CLI. It covers the nested commands of an Atomic/Sequence.
	Sensitive bool `json:"sensitive,omitempty"`
}

// ItemSpec is one item of a command: the node, its Meta and its data.
type ItemSpec struct {
	Target string `json:"target"`
	Format string `json:"format,omitempty"`
	Type   string `json:"type,omitempty"`
	Data   string `json:"data,omitempty"`
	// DataXML marks data that is an XML fragment, written unescaped.
	DataXML bool `json:"data_xml,omitempty"`
}

// Result is one item of a device's Results.
type Result struct {
	Source string `json:"source"`
	Format string `json:"format,omitempty"`
	Type   string `json:"type,omitempty"`
	Data   string `json:"data"`
}

// Done reports whether the command has reached a final state.
func (c *Command) Done() bool {
	return c.State == CommandAcknowledged || c.State == CommandCanceled
}

// Queue holds a device's pending commands (queued or sent), oldest first.
type Queue struct {
	Commands []*Command `json:"commands"`
}

// Inventory is what a device reported of itself: node values (./DevInfo/*
// from package 1, and any other Replace/Add it sent), the latest value of
// each client event (Alert 1224, e.g. LoginStatus), and recent generic
// alerts (Alert 1226).
type Inventory struct {
	Nodes     map[string]string `json:"nodes"`
	Events    map[string]string `json:"events,omitempty"`
	Alerts    []AlertRecord     `json:"alerts,omitempty"`
	UpdatedAt time.Time         `json:"updated_at"`

	// size is the bytes of Nodes and Events (keys and values), counted
	// once when sized is false (inventory.go).
	size  int
	sized bool
}

// AlertRecord is one generic or client event alert.
type AlertRecord struct {
	Code string    `json:"code"`
	Type string    `json:"type,omitempty"`
	Data string    `json:"data,omitempty"`
	At   time.Time `json:"at"`
}

// MaxAlerts bounds the alerts kept in an inventory.
const MaxAlerts = 50

// AddAlert records an alert, keeping the most recent MaxAlerts. An alert
// whose data or type passes MaxAlertData or MaxInventoryURI is refused
// with ErrInventoryLimit and not kept.
func (inv *Inventory) AddAlert(a AlertRecord) error {
	if len(a.Data) > MaxAlertData || len(a.Type) > MaxInventoryURI {
		return fmt.Errorf("%w: alert of %d bytes of data, type of %d (at most %d and %d)", ErrInventoryLimit, len(a.Data), len(a.Type), MaxAlertData, MaxInventoryURI)
	}
	inv.Alerts = append(inv.Alerts, a)
	if n := len(inv.Alerts); n > MaxAlerts {
		inv.Alerts = append([]AlertRecord(nil), inv.Alerts[n-MaxAlerts:]...)
	}
	return nil
}

// AuthMethod is how a device proved itself in an OMA-DM message.
type AuthMethod string

// Authentication methods of OMA-DM messages.
const (
	AuthByCertificate AuthMethod = "certificate"
	AuthByDigest      AuthMethod = "digest"
)

// Session is the state of a device's OMA-DM session between its messages.
type Session struct {
	SessionID string    `json:"session_id"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	// LastMsgID is the device's latest message ID in this session.
	LastMsgID string `json:"last_msg_id"`
	// Authenticated is how the session's last message was authenticated,
	// for display: it authenticates nothing (a digest session is bound to
	// TokenHash).
	Authenticated AuthMethod `json:"authenticated,omitempty"`
	// Sent maps where the server put each command (its message and CmdID)
	// to the command, so the device's Status and Results find it.
	Sent map[SentKey]SentRef `json:"sent,omitempty"`
	// MaxMsgSize and MaxObjSize are the device's limits (0: none given).
	MaxMsgSize int `json:"max_msg_size,omitempty"`
	MaxObjSize int `json:"max_obj_size,omitempty"`
	// Outgoing is a large object being sent to the device in chunks.
	Outgoing *Chunking `json:"outgoing,omitempty"`
	// Incoming is a large object being received from the device.
	Incoming *Incoming `json:"incoming,omitempty"`
	// EntraUser is the Entra ID user signed in on the device, from a
	// verified Alert 1224 AADUserToken of this session (never the token).
	EntraUser string `json:"entra_user,omitempty"`
	// Node is the cluster node that served the session's latest message.
	Node string `json:"node,omitempty"`
	// Ended is set once the server's reply closed the session.
	Ended bool `json:"ended,omitempty"`
	// TokenHash is the hex SHA-256 of the token that continues a digest
	// session (never the token itself), valid until TokenExpires: any node
	// can check it, as the token lives nowhere but on the device.
	TokenHash    string    `json:"token_hash,omitempty"`
	TokenExpires time.Time `json:"token_expires,omitzero"`
	// TokenNode and TokenBoot name the server process that issued the
	// token: its node ID and the boot ID it drew at start. Only that
	// process, or a live node whose heartbeat names that boot, accepts
	// the token, so none survives a restart of its issuer.
	TokenNode string `json:"token_node,omitempty"`
	TokenBoot string `json:"token_boot,omitempty"`
}

// SentKey is where a command went: the server message's MsgID and the
// CmdID it had there, as a device's Status or Results refer to it (MsgRef,
// CmdRef). It is written "<MsgID>:<CmdID>" as a JSON object key.
type SentKey struct {
	MsgID, CmdID string
}

// MarshalText implements encoding.TextMarshaler.
func (k SentKey) MarshalText() ([]byte, error) { return []byte(k.MsgID + ":" + k.CmdID), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *SentKey) UnmarshalText(b []byte) error {
	msg, cmd, ok := strings.Cut(string(b), ":")
	if !ok {
		return fmt.Errorf("sent key %q: want <MsgID>:<CmdID>", b)
	}
	k.MsgID, k.CmdID = msg, cmd
	return nil
}

func (k SentKey) String() string { return k.MsgID + ":" + k.CmdID }

// SentRef names the command (and, inside an Atomic/Sequence, its child)
// that a wire CmdID stands for.
type SentRef struct {
	CommandID string `json:"command_id"`
	// Child is the index in an Atomic/Sequence, -1 for the command itself.
	Child int `json:"child"`
	// Chunk marks a non-final chunk of a large object (expects 213).
	Chunk bool `json:"chunk,omitempty"`
}

// Chunking is the progress of a large object sent to the device: the
// command, and how many bytes of its item data were sent.
type Chunking struct {
	CommandID string `json:"command_id"`
	Offset    int    `json:"offset"`
}

// Incoming is a large object the device is sending in chunks.
type Incoming struct {
	// Cmd is Results or the client command carrying the object.
	Cmd    string `json:"cmd"`
	MsgRef string `json:"msg_ref,omitempty"`
	CmdRef string `json:"cmd_ref,omitempty"`
	Source string `json:"source"`
	Format string `json:"format,omitempty"`
	Type   string `json:"type,omitempty"`
	// Size is the announced total size, 0 if none.
	Size int    `json:"size,omitempty"`
	Data string `json:"data"`
}

func inventoryKey(id string) string      { return deviceDir(id) + "/inventory.json" }
func queueKey(id string) string          { return deviceDir(id) + "/queue.json" }
func sessionKey(id string) string        { return deviceDir(id) + "/session.json" }
func commandsDir(id string) string       { return deviceDir(id) + "/commands" }
func commandKey(id, cmdID string) string { return commandsDir(id) + "/" + cmdID + ".json" }

// Inventory returns a device's inventory (empty if it reported nothing yet).
func (s *Store) Inventory(ctx context.Context, id string) (*Inventory, error) {
	inv := &Inventory{Nodes: map[string]string{}}
	if _, err := s.loadJSON(ctx, inventoryKey(id), inv); err != nil {
		return nil, err
	}
	if inv.Nodes == nil {
		inv.Nodes = map[string]string{}
	}
	return inv, nil
}

// PutInventory writes a device's inventory.
func (s *Store) PutInventory(ctx context.Context, id string, inv *Inventory) error {
	return s.storeJSON(ctx, inventoryKey(id), inv)
}

// Queue returns a device's pending commands.
func (s *Store) Queue(ctx context.Context, id string) (*Queue, error) {
	q := &Queue{}
	if _, err := s.loadJSON(ctx, queueKey(id), q); err != nil {
		return nil, err
	}
	return q, nil
}

// PutQueue writes a device's pending commands.
func (s *Store) PutQueue(ctx context.Context, id string, q *Queue) error {
	return s.storeJSON(ctx, queueKey(id), q)
}

// PutCommand writes a finished command.
func (s *Store) PutCommand(ctx context.Context, c *Command) error {
	if !ValidDeviceID(c.ID) {
		return fmt.Errorf("invalid command ID %q", c.ID)
	}
	return s.storeJSON(ctx, commandKey(c.DeviceID, c.ID), c)
}

// FinishedCommand reads one finished command.
func (s *Store) FinishedCommand(ctx context.Context, deviceID, cmdID string) (*Command, error) {
	if !ValidDeviceID(cmdID) {
		return nil, ErrNotFound
	}
	c := &Command{}
	found, err := s.loadJSON(ctx, commandKey(deviceID, cmdID), c)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return c, nil
}

// listSorted returns the .json keys directly below dir, sorted.
func (s *Store) listSorted(ctx context.Context, dir string) ([]string, error) {
	keys, err := s.storage.List(ctx, dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	out := keys[:0]
	for _, k := range keys {
		if strings.HasSuffix(k, ".json") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}
