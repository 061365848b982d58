package streams

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrSpillFull is returned by a write that would take the spill files of a
// store over their limit when removing finished streams does not make room.
// The stream is unchanged by that write.
var ErrSpillFull = errors.New("no room left in the spill files")

// errRemoved is what reading a spilled event of a removed stream returns.
var errRemoved = errors.New("stream removed")

// spillPattern names the spill files, for os.CreateTemp.
const spillPattern = "mcp-keepalive-*.spill"

// spillFile is a stream's append-only file of event data, created on first
// write and deleted when the stream is removed. It is an io.ReaderAt that
// fails once the file is gone. Its methods are safe for concurrent use; the
// stream's producer is the only writer.
type spillFile struct {
	dir string

	mu     sync.RWMutex // held for reading around every I/O, so close waits for it
	f      *os.File
	closed bool
}

// ReadAt reads len(p) bytes of the file at off.
func (sf *spillFile) ReadAt(p []byte, off int64) (int, error) {
	sf.mu.RLock()
	defer sf.mu.RUnlock()
	if sf.closed || sf.f == nil {
		return 0, errRemoved
	}
	return sf.f.ReadAt(p, off)
}

// writeAt writes parts, one after the other, at off, creating the file if
// there is none yet.
func (sf *spillFile) writeAt(off int64, parts ...[]byte) error {
	if err := sf.open(); err != nil {
		return err
	}
	sf.mu.RLock()
	defer sf.mu.RUnlock()
	if sf.closed {
		return errRemoved
	}
	for _, p := range parts {
		n, err := sf.f.WriteAt(p, off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// open creates the file unless it exists or the stream is gone.
func (sf *spillFile) open() error {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.f != nil || sf.closed {
		return nil
	}
	f, err := os.CreateTemp(sf.dir, spillPattern)
	if err != nil {
		return fmt.Errorf("creating spill file: %w", err)
	}
	sf.f = f
	return nil
}

// truncate cuts the file to size bytes.
func (sf *spillFile) truncate(size int64) error {
	sf.mu.RLock()
	defer sf.mu.RUnlock()
	switch {
	case sf.closed:
		return errRemoved
	case sf.f == nil:
		return nil // never created: nothing to cut
	}
	return sf.f.Truncate(size)
}

// close closes and deletes the file, once in-flight reads and writes are
// done; later ones fail.
func (sf *spillFile) close() {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.closed {
		return
	}
	sf.closed = true
	if sf.f != nil {
		// Nothing to do about a failure: the file is a temporary one.
		_ = sf.f.Close()
		_ = os.Remove(sf.f.Name())
	}
}
