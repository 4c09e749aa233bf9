package store

import (
	"context"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// Memory is a certmagic.Storage held in process memory. It is for tests and
// benchmarks (to tell storage cost from protocol cost): its state is neither
// persistent nor shared between processes.
type Memory struct {
	mu    sync.Mutex
	files map[string]memFile
	locks map[string]chan struct{}
}

type memFile struct {
	data     []byte
	modified time.Time
}

// NewMemory returns an empty in-memory storage.
func NewMemory() *Memory {
	return &Memory{files: map[string]memFile{}, locks: map[string]chan struct{}{}}
}

// Store implements certmagic.Storage.
func (m *Memory) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[key] = memFile{data: append([]byte(nil), value...), modified: time.Now()}
	return nil
}

// Load implements certmagic.Storage.
func (m *Memory) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), f.data...), nil
}

// Delete implements certmagic.Storage; it removes key and everything below it.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	found := false
	for k := range m.files {
		if k == key || strings.HasPrefix(k, key+"/") {
			delete(m.files, k)
			found = true
		}
	}
	if !found {
		return fs.ErrNotExist
	}
	return nil
}

// Exists implements certmagic.Storage.
func (m *Memory) Exists(_ context.Context, key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[key]; ok {
		return true
	}
	for k := range m.files {
		if strings.HasPrefix(k, key+"/") {
			return true
		}
	}
	return false
}

// List implements certmagic.Storage.
func (m *Memory) List(_ context.Context, prefix string, recursive bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for k := range m.files {
		if !strings.HasPrefix(k, prefix+"/") {
			continue
		}
		if recursive {
			seen[k] = true
			continue
		}
		rest := strings.TrimPrefix(k, prefix+"/")
		first, _, _ := strings.Cut(rest, "/")
		seen[path.Join(prefix, first)] = true
	}
	if len(seen) == 0 {
		return nil, fs.ErrNotExist
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Stat implements certmagic.Storage.
func (m *Memory) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	m.mu.Lock()
	f, ok := m.files[key]
	m.mu.Unlock()
	if ok {
		return certmagic.KeyInfo{Key: key, Modified: f.modified, Size: int64(len(f.data)), IsTerminal: true}, nil
	}
	if m.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fs.ErrNotExist
}

// Lock implements certmagic.Locker; it waits for the lock or ctx.
func (m *Memory) Lock(ctx context.Context, name string) error {
	for {
		m.mu.Lock()
		ch, held := m.locks[name]
		if !held {
			m.locks[name] = make(chan struct{})
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Unlock implements certmagic.Locker.
func (m *Memory) Unlock(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch, ok := m.locks[name]; ok {
		close(ch)
		delete(m.locks, name)
	}
	return nil
}

var _ certmagic.Storage = (*Memory)(nil)
