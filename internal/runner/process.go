package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// reapTimeout bounds how long stop waits for the process to be reaped after
// SIGKILL; only a process stuck in the kernel takes longer.
const reapTimeout = 10 * time.Second

// A process is one Stata batch run, started in its own process group so that
// stopping it reaches everything it started.
type process struct {
	cmd  *exec.Cmd
	pgid int
	done chan struct{} // closed once the process has been reaped
	err  error         // cmd.Wait's error; read only after done is closed
}

// startProcess starts name with args in dir, in a new process group whose id
// is the new process's pid, with stdin from /dev/null and stdout and stderr
// going to out. A goroutine reaps the process; once it has exited, any
// process it left behind in its group gets SIGKILL, so that a run never
// outlives its call.
func startProcess(name string, args []string, dir string, out *os.File) (*process, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout = out // an *os.File: no copying goroutine for Wait to wait on
	cmd.Stderr = out
	return startCmd(cmd)
}

// startCmd starts cmd (whose Stdout and Stderr, if set, must be *os.File
// values, so that reaping waits for no copying goroutine) in a new process
// group, and reaps it as startProcess does.
func startCmd(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		// The leader is gone; sweep whatever it left in its group. The group
		// id cannot be reused while any member is alive, and if none is,
		// this is a harmless ESRCH.
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id, which is also its process group id.
func (p *process) Pid() int {
	return p.pgid
}

// Done is closed when the process has exited and been reaped.
func (p *process) Done() <-chan struct{} {
	return p.done
}

// stop ends the run: SIGTERM to the whole process group, then, after grace
// or as soon as the leader has exited, SIGKILL to the group for anything
// still there. It returns once the process has been reaped, or after
// reapTimeout if the kernel does not let it go.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	select {
	case <-p.done:
	case <-t.C:
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	}
	t.Stop()
	t = time.NewTimer(reapTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
}

// exitStatus describes how the process ended, for example "exit status 0" or
// "signal: terminated", and returns its exit code (-1 when a signal ended
// it). It must be called after Done is closed.
func (p *process) exitStatus() (string, int) {
	if p.cmd.ProcessState == nil {
		var err error = errors.New("not reaped")
		if p.err != nil {
			err = p.err
		}
		return err.Error(), -1
	}
	return p.cmd.ProcessState.String(), p.cmd.ProcessState.ExitCode()
}
