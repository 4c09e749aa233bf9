package omadm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/caddy-mdm/caddy-mdm/internal/events"
	"github.com/caddy-mdm/caddy-mdm/internal/lifecycle"
	"github.com/caddy-mdm/caddy-mdm/internal/quote"
	"github.com/caddy-mdm/caddy-mdm/internal/store"
	"github.com/caddy-mdm/caddy-mdm/internal/syncml"
)

// Limits on what an admin can queue. A device's queue is one storage key,
// read and rewritten by every enqueue and every session that sends or
// acknowledges a command, so its size is bounded in bytes too: 10,000
// commands of 4 MiB each would be a 40 GiB key.
const (
	MaxItemsPerCommand = 1000
	MaxCommandData     = 4 << 20
	MaxQueuedCommands  = 10000
	MaxQueuedData      = 16 << 20
)

// Errors of the queue operations.
var (
	ErrInvalidCommand  = errors.New("invalid command")
	ErrDeviceNotActive = errors.New("device is not enrolled")
	ErrCommandNotFound = errors.New("command not found")
	ErrNotCancelable   = errors.New("command is no longer queued")
	ErrQueueFull       = errors.New("device queue is full")
)

// metaFormats are the values of Meta/Format in OMA DM 1.2 (its Tree and
// Description); a device refuses any other, so it is refused here, where
// the admin sees why.
var metaFormats = map[string]bool{
	"b64": true, "bin": true, "bool": true, "chr": true, "int": true, "node": true,
	"null": true, "xml": true, "date": true, "time": true, "float": true,
}

// ValidateSpec checks a command before it is queued: a known verb; items
// with ./ LocURIs; no data on Get; Atomic without Get or nested Atomic;
// bounded size.
func ValidateSpec(spec *store.CommandSpec) error {
	var total int
	return validateSpec(spec, "", &total)
}

func validateSpec(spec *store.CommandSpec, parent string, total *int) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidCommand, fmt.Sprintf(format, a...))
	}
	switch spec.Verb {
	case syncml.CmdAdd, syncml.CmdReplace, syncml.CmdDelete, syncml.CmdExec, syncml.CmdGet:
		if len(spec.Items) == 0 {
			return bad("%s needs at least one item", spec.Verb)
		}
		if len(spec.Commands) > 0 {
			return bad("%s cannot hold commands", spec.Verb)
		}
		if spec.Verb == syncml.CmdGet && parent == syncml.CmdAtomic {
			return bad("no Get inside Atomic")
		}
		if spec.Verb == syncml.CmdExec && len(spec.Items) != 1 {
			return bad("Exec takes exactly one item")
		}
	case syncml.CmdAtomic, syncml.CmdSequence:
		if parent != "" && (spec.Verb == syncml.CmdAtomic || parent == syncml.CmdAtomic) {
			return bad("no %s inside %s", spec.Verb, parent)
		}
		if len(spec.Commands) == 0 || len(spec.Items) > 0 {
			return bad("%s holds commands, not items", spec.Verb)
		}
		for i := range spec.Commands {
			if err := validateSpec(&spec.Commands[i], spec.Verb, total); err != nil {
				return err
			}
		}
		return nil
	default:
		return bad("verb %q: want Get, Add, Replace, Delete, Exec, Atomic or Sequence", spec.Verb)
	}
	if len(spec.Items) > MaxItemsPerCommand {
		return bad("more than %d items", MaxItemsPerCommand)
	}
	for _, it := range spec.Items {
		if !strings.HasPrefix(it.Target, "./") {
			return bad("target %q must start with ./ (./Device/..., ./User/..., ./Vendor/MSFT/...)", it.Target)
		}
		if spec.Verb == syncml.CmdGet && it.Data != "" {
			return bad("Get carries no data")
		}
		if it.Format != "" && !metaFormats[it.Format] {
			return bad("format %q of %s: want one of b64, bin, bool, chr, int, node, null, xml, date, time, float", quote.Bound(it.Format, 40), it.Target)
		}
		if it.DataXML {
			if err := etree.NewDocument().ReadFromString("<x>" + it.Data + "</x>"); err != nil {
				return bad("data_xml of %s is not an XML fragment: %v", it.Target, err)
			}
		}
		*total += len(it.Data)
	}
	if *total > MaxCommandData {
		return bad("more than %d bytes of data", MaxCommandData)
	}
	return nil
}

// ParseRawCommand reads one SyncML command given as XML (its CmdID, if any,
// is replaced when it is sent) into a spec.
func ParseRawCommand(raw string) (*store.CommandSpec, error) {
	msg, err := syncml.Parse([]byte(`<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr/><SyncBody>` + raw + `</SyncBody></SyncML>`))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCommand, err)
	}
	if len(msg.Commands) != 1 {
		return nil, fmt.Errorf("%w: give exactly one command element", ErrInvalidCommand)
	}
	spec := fromWire(msg.Commands[0])
	if err := ValidateSpec(spec); err != nil {
		return nil, err
	}
	return spec, nil
}

func fromWire(c *syncml.Command) *store.CommandSpec {
	spec := &store.CommandSpec{Verb: c.Name}
	for _, it := range c.Items {
		m := syncml.ItemMeta(c, it)
		is := store.ItemSpec{Target: it.Target, Data: it.Data, DataXML: it.DataXML, Format: m.Format, Type: m.Type}
		spec.Items = append(spec.Items, is)
	}
	for _, cc := range c.Children {
		spec.Commands = append(spec.Commands, *fromWire(cc))
	}
	return spec
}

// toWire turns a spec into a SyncML command whose CmdIDs count up from
// start depth-first, and maps the CmdID of every nested command to the index
// of the top-level child it belongs to (statuses of an Atomic's parts).
func toWire(spec *store.CommandSpec, start int) (*syncml.Command, map[string]int) {
	next := start
	var children map[string]int
	var build func(s *store.CommandSpec, top int) *syncml.Command
	build = func(s *store.CommandSpec, top int) *syncml.Command {
		c := &syncml.Command{Name: s.Verb, CmdID: strconv.Itoa(next)}
		if top >= 0 {
			if children == nil {
				children = map[string]int{}
			}
			children[c.CmdID] = top
		}
		next++
		for _, it := range s.Items {
			wi := &syncml.Item{Target: it.Target, Data: it.Data, DataXML: it.DataXML, HasData: it.Data != ""}
			if it.Format != "" || it.Type != "" {
				wi.Meta = &syncml.Meta{Format: it.Format, Type: it.Type}
			}
			c.Items = append(c.Items, wi)
		}
		for i := range s.Commands {
			childTop := top
			if top < 0 {
				childTop = i
			}
			c.Children = append(c.Children, build(&s.Commands[i], childTop))
		}
		return c
	}
	return build(spec, -1), children
}

// Enqueue validates a command and appends it to the device's queue; it is
// sent in the device's next session.
func (s *Server) Enqueue(ctx context.Context, deviceID string, spec store.CommandSpec) (*store.Command, error) {
	return s.enqueue(ctx, deviceID, spec, "")
}

func (s *Server) enqueue(ctx context.Context, deviceID string, spec store.CommandSpec, purpose string) (*store.Command, error) {
	if err := ValidateSpec(&spec); err != nil {
		return nil, err
	}
	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.enqueueLocked(ctx, deviceID, spec, purpose)
}

// enqueueLocked is enqueue for a caller that holds the device lock and
// validated spec.
func (s *Server) enqueueLocked(ctx context.Context, deviceID string, spec store.CommandSpec, purpose string) (*store.Command, error) {
	dev, err := s.Store.Device(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	if dev.State != store.StateEnrolled {
		return nil, fmt.Errorf("%w: %s is %s", ErrDeviceNotActive, deviceID, dev.State)
	}
	q, err := s.Store.Queue(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	if len(q.Commands) >= MaxQueuedCommands {
		return nil, fmt.Errorf("%w: %d commands pending", ErrQueueFull, len(q.Commands))
	}
	if pending, n := queuedData(q), specData(&spec); pending+n > MaxQueuedData {
		return nil, fmt.Errorf("%w: %d bytes of data pending, this command adds %d, the limit is %d", ErrQueueFull, pending, n, MaxQueuedData)
	}
	id, err := s.newCommandID()
	if err != nil {
		return nil, err
	}
	cmd := &store.Command{ID: id, DeviceID: deviceID, Spec: spec, Purpose: purpose, State: store.CommandQueued, CreatedAt: s.Now()}
	q.Commands = append(q.Commands, cmd)
	if err := s.Store.PutQueue(ctx, deviceID, q); err != nil {
		return nil, err
	}
	events.Or(s.Events).Commands(events.CommandChange{Queued: 1})
	return cmd, nil
}

// PurposeUnenroll marks the command that unenrolls a device.
const PurposeUnenroll = "unenroll"

// Unenroll queues Exec ./Vendor/MSFT/DMClient/Provider/<ProviderID>/Unenroll
// for the device's next session; the device is retired when it is
// delivered (Windows sends no status for it).
func (s *Server) Unenroll(ctx context.Context, deviceID string) (*store.Command, error) {
	spec := store.CommandSpec{Verb: syncml.CmdExec, Items: []store.ItemSpec{{Target: "./Vendor/MSFT/DMClient/Provider/" + s.ProviderID + "/Unenroll"}}}
	return s.enqueue(ctx, deviceID, spec, PurposeUnenroll)
}

// Retire takes a device out of management now (a lost or stolen device):
// its certificate and digest credentials stop working and its queue is
// canceled.
func (s *Server) Retire(ctx context.Context, deviceID, reason string) (*store.Device, error) {
	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dev, err := s.Store.Device(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	if dev.State == store.StateRetired {
		return dev, nil
	}
	return (&lifecycle.Service{Store: s.Store, Now: s.Now, Events: s.Events}).Retire(ctx, deviceID, lifecycle.Retired(reason))
}

// Cancel removes a queued command; a command already sent cannot be
// called back.
func (s *Server) Cancel(ctx context.Context, deviceID, cmdID, reason string) (*store.Command, error) {
	unlock, err := s.Store.LockDeviceCtx(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	q, err := s.Store.Queue(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	for i, c := range q.Commands {
		if c.ID != cmdID {
			continue
		}
		if c.State != store.CommandQueued {
			return c, fmt.Errorf("%w: %s is %s", ErrNotCancelable, cmdID, c.State)
		}
		c.State, c.Reason, c.DoneAt = store.CommandCanceled, reason, s.Now()
		q.Commands = append(q.Commands[:i], q.Commands[i+1:]...)
		// Never both finished and deliverable, whatever fails when.
		if err := s.Store.FinishCommands(ctx, deviceID, q, []*store.Command{c}); err != nil {
			return nil, err
		}
		events.Or(s.Events).Commands(events.CommandChange{Canceled: 1})
		return c, nil
	}
	if c, err := s.Store.FinishedCommand(ctx, deviceID, cmdID); err == nil {
		return c, fmt.Errorf("%w: %s is %s", ErrNotCancelable, cmdID, c.State)
	}
	return nil, ErrCommandNotFound
}

// Commands lists a device's commands: finished ones oldest first (the
// newest store.MaxFinishedCommands), then the pending queue in order. A
// command found in both (a save cut short between its two writes, which
// the device's next session repairs) is listed once, as finished.
func (s *Server) Commands(ctx context.Context, deviceID string) ([]*store.Command, error) {
	done, err := s.Store.FinishedCommands(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	q, err := s.Store.Queue(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(done))
	for _, c := range done {
		seen[c.ID] = true
	}
	for _, c := range q.Commands {
		if !seen[c.ID] {
			done = append(done, c)
		}
	}
	return done, nil
}

// newCommandID returns an ID that sorts by creation time: 13 hex digits of
// Unix milliseconds and 8 random hex digits.
func (s *Server) newCommandID() (string, error) {
	b := make([]byte, 4)
	if _, err := io.ReadFull(s.Rand, b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%013x%s", s.Now().UnixMilli(), hex.EncodeToString(b)), nil
}

// specData is the item data a command carries, its children's included.
func specData(spec *store.CommandSpec) int {
	n := 0
	for _, it := range spec.Items {
		n += len(it.Data)
	}
	for i := range spec.Commands {
		n += specData(&spec.Commands[i])
	}
	return n
}

// queuedData is the item data of the commands a queue holds.
func queuedData(q *store.Queue) int {
	n := 0
	for _, c := range q.Commands {
		n += specData(&c.Spec)
	}
	return n
}

// profileData is the item data a profile's commands queue.
func profileData(p *store.Profile) int {
	n := 0
	for i := range p.Commands {
		n += specData(&p.Commands[i])
	}
	return n
}
