package store

import (
	"context"
	"errors"
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
