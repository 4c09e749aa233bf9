package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestDeviceRoundTrip(t *testing.T) {
	for name, st := range map[string]certmagic.Storage{
		"file":   &certmagic.FileStorage{Path: t.TempDir()},
		"memory": NewMemory(),
	} {
		t.Run(name, func(t *testing.T) {
			s := New(st)
			ctx := context.Background()
			if _, err := s.Device(ctx, "1E08C6E95D8BB843B1278FF45BC60CC6"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing device: %v", err)
			}
			d := &Device{DeviceID: "1E08C6E95D8BB843B1278FF45BC60CC6", User: "u", State: StateEnrolled,
				EnrolledAt: time.Now().UTC().Truncate(time.Second), Digest: DigestSecrets{ClientSecret: "c", ServerSecret: "s"}}
			if err := s.PutDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, err := s.Device(ctx, d.DeviceID)
			if err != nil || got.User != "u" || !got.EnrolledAt.Equal(d.EnrolledAt) || got.Digest.ServerSecret != "s" {
				t.Fatalf("round trip: %+v %v", got, err)
			}
			if r := got.Redacted(); r.Digest.ClientSecret == "c" || r.Digest.ServerSecret == "s" {
				t.Error("Redacted kept a secret")
			}
		})
	}
}

func TestDeviceIDsAreSafeKeys(t *testing.T) {
	s := New(NewMemory())
	for _, id := range []string{"", "../x", "a/b", ".hidden", "a b", string(make([]byte, 129))} {
		if ValidDeviceID(id) {
			t.Errorf("ValidDeviceID(%q)", id)
		}
		if err := s.PutDevice(context.Background(), &Device{DeviceID: id}); err == nil {
			t.Errorf("stored device %q", id)
		}
	}
	for _, id := range []string{"1E08C6E95D8BB843B1278FF45BC60CC6", "{8A2C-11}", "wp8_device.1"} {
		if !ValidDeviceID(id) {
			t.Errorf("refused %q", id)
		}
	}
}

func TestMemoryLock(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	if err := m.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := m.Lock(short, "x"); err == nil {
		t.Fatal("lock taken twice")
	}
	_ = m.Unlock(ctx, "x")
	if err := m.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := New(&certmagic.FileStorage{Path: dir})
	ctx := context.Background()
	d := &Device{DeviceID: "1E08C6E95D8BB843B1278FF45BC60CC6", State: StateEnrolled}
	if err := s.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	devDir := filepath.Join(dir, "mdm", "devices", d.DeviceID)
	old := filepath.Join(devDir, "3141592653")   // a killed writer's temporary file
	fresh := filepath.Join(devDir, "2718281828") // a write in progress
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveLeftovers(ctx, time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("RemoveLeftovers = %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("the old temporary file is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh temporary file (a write in progress) was removed")
	}
	if got, err := s.Device(ctx, d.DeviceID); err != nil || got.State != StateEnrolled {
		t.Errorf("the record did not survive: %v", err)
	}
	if n, err := New(NewMemory()).RemoveLeftovers(ctx, 0); n != 0 || err != nil {
		t.Errorf("memory storage: %d, %v", n, err)
	}
}

// TestTraceBounds: a trace keeps at most keep exchanges, cuts each body to
// MaxTraceBody and stays under MaxTraceBytes, dropping the oldest first.
func TestTraceBounds(t *testing.T) {
	s := New(NewMemory())
	ctx := context.Background()
	id := "1E08C6E95D8BB843B1278FF45BC60CC6"
	big := strings.Repeat("x", 900<<10)
	for i := 0; i < 40; i++ {
		body := "small"
		if i >= 10 {
			body = big
		}
		if err := s.AppendTrace(ctx, id, Exchange{Kind: "management", Request: body, Response: strconv.Itoa(i)}, 30); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := s.Trace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, ex := range tr.Exchanges {
		if len(ex.Request) > MaxTraceBody+64 {
			t.Fatalf("a body of %d bytes was kept", len(ex.Request))
		}
		size += len(ex.Request) + len(ex.Response)
	}
	if size > MaxTraceBytes || len(tr.Exchanges) > 30 || len(tr.Exchanges) == 0 {
		t.Fatalf("%d exchanges, %d bytes", len(tr.Exchanges), size)
	}
	if last := tr.Exchanges[len(tr.Exchanges)-1]; last.Response != "39" || !strings.Contains(last.Request, "cut:") {
		t.Errorf("the newest exchange is not kept whole-but-cut: %q", last.Response)
	}
}

// TestSentKeyJSON: a session's map of sent commands keeps the
// "<MsgID>:<CmdID>" keys stored before it was typed.
func TestSentKeyJSON(t *testing.T) {
	var sess Session
	if err := json.Unmarshal([]byte(`{"session_id":"1","sent":{"3:5":{"command_id":"c","child":-1}}}`), &sess); err != nil {
		t.Fatal(err)
	}
	if ref, ok := sess.Sent[SentKey{MsgID: "3", CmdID: "5"}]; !ok || ref.CommandID != "c" {
		t.Fatalf("stored key not read: %+v", sess.Sent)
	}
	b, _ := json.Marshal(sess)
	if !strings.Contains(string(b), `"3:5"`) {
		t.Errorf("key written as %s", b)
	}
	if err := json.Unmarshal([]byte(`{"sent":{"nocolon":{}}}`), &sess); err == nil {
		t.Error("a key without MsgID:CmdID accepted")
	}
}

// The keys without an extension (the device index, labels, profile status
// markers, secrets) are not leftovers, however old, even where a device ID
// is made of digits.
func TestRemoveLeftoversKeepsKeysWithoutExtension(t *testing.T) {
	dir := t.TempDir()
	s := New(&certmagic.FileStorage{Path: dir})
	ctx := context.Background()
	d := &Device{DeviceID: "1234567890", State: StateEnrolled}
	if err := s.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexLabel(ctx, "finance", d.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret(ctx, "console"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	past := time.Now().Add(-time.Hour)
	err := filepath.WalkDir(filepath.Join(dir, "mdm"), func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			keys = append(keys, path)
			err = os.Chtimes(path, past, past)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.RemoveLeftovers(ctx, time.Minute); n != 0 || err != nil {
		t.Fatalf("RemoveLeftovers = %d, %v; want nothing removed", n, err)
	}
	for _, k := range keys {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("%s was removed", k)
		}
	}
	if counts, err := s.DeviceStateCounts(ctx); err != nil || counts[StateEnrolled] != 1 {
		t.Errorf("the index after the sweep: %v, %v", counts, err)
	}
}

// A wait for a device's in-process lock ends with the caller's context,
// so two pieces of work nesting two devices' locks in opposite orders
// cannot hang the devices forever.
func TestDeviceLockWaitEndsWithContext(t *testing.T) {
	s := New(NewMemory())
	unlock, err := s.LockDeviceCtx(context.Background(), "A")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.LockDeviceCtx(ctx, "A"); err == nil {
		t.Fatal("a second holder of a held lock")
	}
	other, err := s.LockDeviceCtx(context.Background(), "B")
	if err != nil {
		t.Fatal("another device's lock waits:", err)
	}
	other()
	unlock()
	again, err := s.LockDeviceCtx(context.Background(), "A")
	if err != nil {
		t.Fatal("the lock after its release:", err)
	}
	again()
	if n := len(s.locks.held); n != 0 {
		t.Errorf("%d lock entries left", n)
	}
}
