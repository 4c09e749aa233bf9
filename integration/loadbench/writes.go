package main

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// writeCounter counts the keys the file storage writes below some
// directories: certmagic's file storage writes each key to a temporary
// file and renames it into place, so each write is one IN_MOVED_TO event
// (Linux inotify). Watching the run's device directories (not the seeded
// fleet) counts what the run's sessions write.
type writeCounter struct {
	fd     int
	writes atomic.Int64
}

func newWriteCounter() *writeCounter {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	check(err)
	w := &writeCounter{fd: fd}
	go w.read()
	return w
}

// watch adds dir and its subdirectories.
func (w *writeCounter) watch(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_, _ = syscall.InotifyAddWatch(w.fd, p, syscall.IN_MOVED_TO|syscall.IN_ONLYDIR)
		}
		return nil
	})
}

func (w *writeCounter) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if err != nil || n <= 0 {
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&syscall.IN_MOVED_TO != 0 {
				w.writes.Add(1)
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

func (w *writeCounter) close() { _ = syscall.Close(w.fd) }
