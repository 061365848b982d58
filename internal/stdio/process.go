package stdio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// reapTimeout bounds how long stop waits for the process to be reaped after
// SIGKILL; only a process stuck in the kernel takes longer.
const reapTimeout = 10 * time.Second

// maxLine is the longest line read from a worker's stdout or stderr.
const maxLine = 64 << 20

// A process is one worker's program, started in its own process group so
// that stopping it reaches everything it started.
type process struct {
	cmd    *exec.Cmd
	pid    int
	stdin  io.WriteCloser
	stdout io.ReadCloser
	done   chan struct{} // closed once the process has been reaped
	err    error         // cmd.Wait's error; read only after done is closed
}

// startProcess starts cfg's command in a new process group whose id is the
// new process's pid. Each line of its stderr is logged with its pid. A
// goroutine reaps the process; once it has exited, anything it left in its
// group gets SIGKILL.
func startProcess(cfg Config) (*process, error) {
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Dir = cfg.Dir
	cmd.Env = append(os.Environ(), cfg.Env...)
	cmd.SysProcAttr = sysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Command[0], err)
	}
	// Plain pipes rather than StdoutPipe: Wait must not close what the
	// readers still read. They end when every process holding the write
	// ends is gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Command[0], err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("starting %s: %w", cfg.Command[0], err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("starting %s: %w", cfg.Command[0], err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, stdout: outR, done: make(chan struct{})}
	go func() {
		defer errR.Close()
		logStderr(errR, cfg.Logger.With(zap.Int("pid", p.pid)))
	}()
	go func() {
		p.err = cmd.Wait()
		// The leader is gone; sweep whatever it left in its group. The
		// group id cannot be reused while any member is alive, and if none
		// is, this is a harmless ESRCH.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		close(p.done)
	}()
	return p, nil
}

// logStderr logs each line of r until it ends.
func logStderr(r io.Reader, logger *zap.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		logger.Info("worker stderr", zap.String("line", sc.Text()))
	}
	// A line over maxLine ends the scan; drain the rest so the worker never
	// blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// signal sends sig to the process group.
func (p *process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid, sig)
}

// terminate closes the worker's stdin and sends SIGTERM to its group. It
// does not wait, so that it can run while Caddy exits.
func (p *process) terminate() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.stdin.Close()
	p.signal(syscall.SIGTERM)
}

// await waits for the process to exit after terminate; after grace its group
// gets SIGKILL. It returns once the process has been reaped, or after
// reapTimeout if the kernel does not let it go.
func (p *process) await(grace time.Duration) {
	t := time.NewTimer(grace)
	select {
	case <-p.done:
	case <-t.C:
		p.signal(syscall.SIGKILL)
	}
	t.Stop()
	t = time.NewTimer(reapTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
}

// exitStatus describes how the process ended, for example "exit status 1"
// or "signal: killed". It must be called after done is closed.
func (p *process) exitStatus() string {
	if p.cmd.ProcessState == nil {
		var err error = errors.New("not reaped")
		if p.err != nil {
			err = p.err
		}
		return err.Error()
	}
	return p.cmd.ProcessState.String()
}
