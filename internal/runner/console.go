package runner

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The console protocol (see the package documentation): the runner drives
// Stata in console mode, `<stata> -q` with pipes for standard input and
// output, and brackets every block of commands it sends with display
// commands of unique markers, so that where a block's output ends never
// depends on timing. Stata echoes each command it reads as `. <command>`, so
// an echo never equals a marker line, which starts with markerPrefix.
const markerPrefix = "@@caddy-stata"

// maxConsoleLine caps one line of Stata's output kept by the reader; the rest
// of a longer line is dropped.
const maxConsoleLine = 64 << 10

// A console is one Stata process in console mode, in its own process group.
// Its output (standard output and error together) is read line by line by a
// goroutine into Lines. Only one goroutine at a time may send commands and
// read Lines: the session that owns it.
type console struct {
	proc  *process
	stdin io.WriteCloser
	lines chan string   // Stata's output lines, closed when it ends
	stop  chan struct{} // closed by close, to stop the reader
	tail  []string      // the last lines read before ready, for errors
	once  sync.Once     // closes stop
}

// newToken returns a fresh random marker token.
func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// marker returns the line a display of `kind token` prints.
func marker(kind, token string) string {
	return markerPrefix + " " + kind + " " + token
}

// displayMarker returns the command that prints marker(kind, token),
// followed by the given Stata expressions (each already quoted or an
// expression).
func displayMarker(kind, token string, exprs ...string) string {
	cmd := fmt.Sprintf("display \"%s\"", marker(kind, token))
	if len(exprs) > 0 {
		cmd = fmt.Sprintf("display \"%s \" %s", marker(kind, token), strings.Join(exprs, " "))
	}
	return cmd
}

// startConsole starts `<stata> -q` in dir and waits until Stata answers the
// ready marker, at most within startTimeout. On failure the process group is
// stopped and the error says what Stata printed.
func startConsole(stata, dir string, startTimeout, killGrace time.Duration) (*console, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making a pipe for Stata's output: %w", err)
	}
	cmd := exec.Command(stata, "-q")
	cmd.Dir = dir
	cmd.Stdout = pw
	cmd.Stderr = pw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("making a pipe for Stata's input: %w", err)
	}
	p, err := startCmd(cmd)
	pw.Close() // the child has its own copy
	if err != nil {
		pr.Close()
		stdin.Close()
		return nil, err
	}
	c := &console{proc: p, stdin: stdin, lines: make(chan string, 256), stop: make(chan struct{})}
	go c.read(pr)

	token := newToken()
	ready := marker("ready", token)
	// A Stata that fails at start may exit before it reads this: what it
	// printed, read below, says more than the broken pipe.
	_ = c.send("set more off", displayMarker("ready", token))
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-p.Done()
				exit, _ := p.exitStatus()
				c.close(killGrace)
				return nil, fmt.Errorf("stata ended before it was ready (%s)%s", exit, c.shownTail())
			}
			if line == ready {
				c.tail = nil
				return c, nil
			}
			c.keep(line)
		case <-deadline.C:
			c.close(killGrace)
			return nil, fmt.Errorf("stata did not answer within %s of its start%s", startTimeout, c.shownTail())
		}
	}
}

// keep remembers line among the last few lines seen before ready.
func (c *console) keep(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	c.tail = append(c.tail, line)
	if len(c.tail) > 5 {
		c.tail = c.tail[1:]
	}
}

// shownTail is the lines kept by keep, for an error message.
func (c *console) shownTail() string {
	if len(c.tail) == 0 {
		return ""
	}
	return "; it printed: " + strings.Join(c.tail, " | ")
}

// read copies Stata's output into c.lines, one line at a time without its
// line ending, until the output ends or close is called.
func (c *console) read(r *os.File) {
	defer r.Close()
	defer close(c.lines)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: keep its start, skip the rest.
			s := string(line[:min(len(line), maxConsoleLine)])
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			line = []byte(s)
		}
		if len(line) > 0 || err == nil {
			s := strings.TrimRight(string(line), "\r\n")
			select {
			case c.lines <- strings.ToValidUTF8(s, "\uFFFD"):
			case <-c.stop:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// send writes commands to Stata's input, one a line.
func (c *console) send(cmds ...string) error {
	_, err := io.WriteString(c.stdin, strings.Join(cmds, "\n")+"\n")
	return err
}

// interrupt sends SIGINT to Stata (the process, not its group), as Break
// does.
func (c *console) interrupt() {
	_ = syscall.Kill(c.proc.Pid(), syscall.SIGINT)
}

// Pid returns Stata's process id.
func (c *console) Pid() int {
	return c.proc.Pid()
}

// close ends Stata: its input is closed (Stata exits at EOF), and after
// grace its process group gets SIGTERM and then, after grace again, SIGKILL.
// It returns once the process is reaped. It may be called more than once.
func (c *console) close(grace time.Duration) {
	c.once.Do(func() { close(c.stop) })
	c.stdin.Close()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.proc.Done():
	case <-t.C:
	}
	c.proc.stop(grace)
}

// kill ends Stata at once: its process group gets SIGTERM, then SIGKILL
// after grace. It returns once the process is reaped.
func (c *console) kill(grace time.Duration) {
	c.once.Do(func() { close(c.stop) })
	c.stdin.Close()
	c.proc.stop(grace)
}
