package stdio

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Worker states, as the health report and the metrics name them.
const (
	stateStarting = "starting" // started, not yet initialized
	stateIdle     = "idle"     // initialized, no call running
	stateBusy     = "busy"     // initialized, running calls
	stateStopping = "stopping" // failed or no longer needed, being stopped
)

// protocolVersion is the revision the pool asks workers for; a worker may
// answer with an older one.
const protocolVersion = "2025-11-25"

// minStartTimeout is the least time a worker has to answer initialize.
const minStartTimeout = 30 * time.Second

// A worker is one process of the pool's command. Fields under "guarded by
// Pool.mu" change only with the pool's lock held.
type worker struct {
	pool *Pool
	proc *process // set once started; nil while the program starts

	writeMu sync.Mutex // serializes writes to the process's stdin
	stopped sync.Once

	// guarded by Pool.mu
	pid       int
	stopping  bool
	ready     bool
	cause     string                // why it is stopping, "" for a plain exit
	failed    bool                  // it is stopping because it failed
	calls     map[int64]*call       // client calls running, by worker-side id
	internal  map[int64]chan object // the pool's own requests, by id
	nextID    int64                 // the last worker-side id used
	served    int64                 // calls answered
	restarts  int                   // failed workers this one's line replaced
	started   time.Time             // when the process was started
	idleSince time.Time             // when the last call ended
	health    time.Time             // when the last ping was answered
	healthErr string                // why the last ping failed
	protocol  string                // the revision the worker answered
}

// state names the worker's state. The pool's lock must be held.
func (w *worker) state() string {
	switch {
	case w.stopping:
		return stateStopping
	case !w.ready:
		return stateStarting
	case len(w.calls) > 0:
		return stateBusy
	}
	return stateIdle
}

// live reports whether the worker counts towards the pool's size: it is
// starting or ready and not being stopped. The pool's lock must be held.
func (w *worker) live() bool { return !w.stopping }

// write sends one message to the worker.
func (w *worker) write(msg []byte) error {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	buf := make([]byte, 0, len(msg)+1)
	buf = append(append(buf, msg...), '\n')
	if _, err := w.proc.stdin.Write(buf); err != nil {
		return fmt.Errorf("writing to worker %d: %w", w.proc.pid, err)
	}
	return nil
}

// ask sends the pool's own request to the worker and waits up to timeout
// for the answer's result. The write counts against the timeout too: a
// worker that stopped reading its stdin must not block its health check.
func (w *worker) ask(ctx context.Context, method string, params any, timeout time.Duration) (json.RawMessage, error) {
	p := w.pool
	ch := make(chan object, 1)
	p.mu.Lock()
	w.nextID++
	id := w.nextID
	w.internal[id] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(w.internal, id)
		p.mu.Unlock()
	}()
	written := make(chan error, 1)
	go func() { written <- w.write(request(intID(id), method, params)) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case err := <-written:
			if err != nil {
				return nil, err
			}
			written = nil
		case o := <-ch:
			if e, ok := o["error"]; ok {
				return nil, fmt.Errorf("%s answered with an error: %s", method, e)
			}
			return o["result"], nil
		case <-t.C:
			return nil, fmt.Errorf("no answer to %s within %v", method, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// read routes every message the worker writes on stdout until it closes.
func (w *worker) read() {
	sc := bufio.NewScanner(w.proc.stdout)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	log := w.pool.log.With(zap.Int("pid", w.proc.pid))
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		o, err := decodeObject(line)
		if err != nil {
			log.Warn("worker wrote a line that is not a json-rpc message", zap.ByteString("line", truncate(line, 200)))
			continue
		}
		w.pool.fromWorker(w, o)
	}
	if err := sc.Err(); err != nil {
		// A line over maxLine: the worker is no longer understood.
		log.Warn("reading from worker", zap.Error(err))
	}
	_ = w.proc.stdout.Close()
}

// truncate returns at most n bytes of b.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// stop ends the worker's process in the background: stdin closed and
// SIGTERM to its group at once, SIGKILL after the grace period.
func (w *worker) stop(grace time.Duration) {
	w.stopped.Do(func() {
		w.proc.terminate()
		go w.proc.await(grace)
	})
}
