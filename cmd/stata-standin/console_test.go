package main

import (
	"bufio"
	"bytes"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// replyTimeout bounds every wait for the stand-in's output in these tests. It
// is generous (the machine is shared); the tests that measure how fast Break
// works assert their own, tighter bounds.
const replyTimeout = 30 * time.Second

var (
	standinOnce sync.Once
	standinPath string
	standinErr  error
)

// sharedStandin builds the stand-in once for all the console tests, with the
// race detector, so that a data race in the running stand-in (its SIGINT
// goroutine) fails the test that met it.
func sharedStandin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	standinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "standin-test-")
		if err != nil {
			standinErr = err
			return
		}
		standinPath = filepath.Join(dir, "stata-standin")
		out, err := exec.Command("go", "build", "-race", "-o", standinPath, ".").CombinedOutput()
		if err != nil {
			standinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if standinErr != nil {
		t.Fatal(standinErr)
	}
	return standinPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if standinPath != "" {
		os.RemoveAll(filepath.Dir(standinPath))
	}
	os.Exit(code)
}

// A console is a stand-in running in console mode, driven through pipes the
// way the runner drives Stata.
type console struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string   // stdout, line by line; closed at EOF
	dir     string        // the working directory, where run.do files go
	seen    []string      // every line read so far
	begin   int           // where in seen the running block's output starts
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // its exit status; read after done

	stderr syncBuffer
}

// A syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startConsole starts `stata-standin -q` in its own process group in a new
// directory; the test's cleanup kills the group.
func startConsole(t *testing.T) *console {
	t.Helper()
	c := &console{t: t, dir: t.TempDir(), lines: make(chan string, 1024), done: make(chan struct{})}
	c.cmd = exec.Command(sharedStandin(t), "-q")
	c.cmd.Dir = c.dir
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		c.stdin.Close()
		for range c.lines {
		}
		<-c.done
		if e := c.stderr.String(); e != "" {
			t.Errorf("the stand-in wrote to stderr:\n%s", e)
		}
	})
	return c
}

// send writes lines to the console's stdin.
func (c *console) send(lines ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, strings.Join(lines, "\n")+"\n"); err != nil {
		c.t.Fatalf("writing to stdin: %v", err)
	}
}

// readUntil reads lines until one satisfies match and returns them all (the
// matching one last); it fails the test at EOF or after timeout.
func (c *console) readUntil(match func(string) bool, timeout time.Duration) []string {
	c.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var got []string
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("stdout ended; output so far:\n%s", strings.Join(append(c.seen, got...), "\n"))
			}
			got = append(got, l)
			if match(l) {
				c.seen = append(c.seen, got...)
				return got
			}
		case <-deadline.C:
			c.t.Fatalf("no matching line within %v; output so far:\n%s", timeout, strings.Join(append(c.seen, got...), "\n"))
		}
	}
}

// readLine reads until the line exactly equal to want.
func (c *console) readLine(want string) []string {
	c.t.Helper()
	return c.readUntil(func(l string) bool { return l == want }, replyTimeout)
}

// ready does the runner's handshake.
func (c *console) ready(token string) {
	c.t.Helper()
	c.send("set more off", `display "@@caddy-stata ready `+token+`"`)
	c.readLine("@@caddy-stata ready " + token)
}

// startBlock writes code to run.do in the console's directory and sends the
// lines the runner sends for one call.
func (c *console) startBlock(token, code string) {
	c.t.Helper()
	runDo := filepath.Join(c.dir, "run-"+token+".do")
	if err := os.WriteFile(runDo, []byte(code), 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.send(`display "@@caddy-stata begin `+token+`"`,
		`capture noisily do "`+runDo+`"`,
		`display "@@caddy-stata end `+token+` " _rc`)
	c.readLine("@@caddy-stata begin " + token)
	c.begin = len(c.seen)
}

// finishBlock reads up to the end marker and returns the block's output (the
// lines between the begin marker and the echo of the end display, as the
// runner cuts it) and the return code the end marker carries.
func (c *console) finishBlock(token string, timeout time.Duration) (string, int) {
	c.t.Helper()
	prefix := "@@caddy-stata end " + token + " "
	c.readUntil(func(l string) bool { return strings.HasPrefix(l, prefix) }, timeout)
	lines := c.seen[c.begin:]
	rc, err := strconv.Atoi(strings.TrimPrefix(lines[len(lines)-1], prefix))
	if err != nil {
		c.t.Fatalf("end marker %q: %v", lines[len(lines)-1], err)
	}
	// Drop the end display's echo and the marker itself.
	return strings.Join(lines[:len(lines)-2], "\n") + "\n", rc
}

// block runs code as one call and returns its output and return code.
func (c *console) block(token, code string) (string, int) {
	c.t.Helper()
	c.startBlock(token, code)
	return c.finishBlock(token, replyTimeout)
}

// runDoEcho is the echo of the runner's capture noisily do line for a block.
func (c *console) runDoEcho(token string) string {
	return "\n. capture noisily do \"" + filepath.Join(c.dir, "run-"+token+".do") + "\"\n\n"
}

// TestConsoleMarkers checks the exact output of the runner's handshake and of
// a block: echo, output, blank lines, end of do-file, and the markers.
func TestConsoleMarkers(t *testing.T) {
	c := startConsole(t)
	c.ready("a1")
	out, rc := c.block("b2", "display \"hello\"\ndisplay 6*7\n")
	want := c.runDoEcho("b2") + ". display \"hello\"\nhello\n\n. display 6*7\n42\n\n. \nend of do-file\n\n"
	if rc != 0 || out != want {
		t.Errorf("block output (rc %d):\n%q\nwant (rc 0):\n%q", rc, out, want)
	}
	// The end marker's own echo starts with ". display", so it never matches
	// the marker line; what follows the marker is a blank line.
	c.send(`display "next"`)
	if got := c.readLine("next"); strings.Join(got, "\n") != "\n. display \"next\"\nnext" {
		t.Errorf("after the end marker: %q", got)
	}
}

// TestConsoleStateAcrossBlocks checks that data, scalars, globals, stored
// results and the current directory carry over from one block to the next,
// and that locals do not (they belong to the do-file that defined them, as in
// Stata).
func TestConsoleStateAcrossBlocks(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	sub := filepath.Join(c.dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	out, rc := c.block("one", "set obs 5\ngenerate x = _n * 10\nscalar total = 15\nlocal mine lost\nglobal ours kept\ncd \""+sub+"\"\n")
	if rc != 0 || !strings.Contains(out, "Number of observations (_N) was 0, now 5.") {
		t.Fatalf("first block (rc %d):\n%s", rc, out)
	}
	out, rc = c.block("two", "count if x > 20\ndisplay total + r(N)\ndisplay \"[`mine'] [$ours]\"\npwd\n")
	for _, want := range []string{". count if x > 20\n  3\n", ". display total + r(N)\n18\n", "[] [kept]\n", ". pwd\n" + sub + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("second block lacks %q (rc %d):\n%s", want, rc, out)
		}
	}
	c.send("quietly describe, short", `display "@@caddy-stata data t " r(N) " " r(k)`)
	c.readLine("@@caddy-stata data t 5 1")
}

// TestConsoleErrors checks that an error stops the do-file, nested levels
// unwinding with r(n); and end of do-file, but not the console, which reads
// the next line; and how errors show at the console itself.
func TestConsoleErrors(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	inner := filepath.Join(c.dir, "inner.do")
	if err := os.WriteFile(inner, []byte("display \"in\"\nerror 459\ndisplay \"not reached\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, rc := c.block("n", "do \""+inner+"\"\ndisplay \"not reached either\"\n")
	want := c.runDoEcho("n") + ". do \"" + inner + "\"\n\n. display \"in\"\nin\n\n. error 459\n" +
		"something that should be true of your data is not\nr(459);\n\nend of do-file\nr(459);\n\nend of do-file\n\n"
	if rc != 459 || out != want {
		t.Errorf("nested error (rc %d):\n%s\nwant (rc 459):\n%s", rc, out, want)
	}

	// At the console an error prints r(n); and the next line runs.
	c.send("nosuchcommand 1 2", "display price", `display "still reading"`)
	got := strings.Join(c.readLine("still reading"), "\n")
	want = "\n. nosuchcommand 1 2\nunrecognized command: nosuchcommand\nr(199);\n\n. display price\nprice not found\nr(111);\n\n. display \"still reading\"\nstill reading"
	if got != want {
		t.Errorf("console errors:\n%s\nwant:\n%s", got, want)
	}
}

// TestConsoleCapture checks capture (output and message hidden), capture
// noisily (shown, but without r(n);), _rc in expressions, and that capture
// resets _rc after a success.
func TestConsoleCapture(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	c.send("capture error 601", `display "rc=" _rc`,
		"capture noisily error 198", `display "rc=" _rc*2`,
		`capture display "quiet"`, `display "rc=" _rc`, `display "done"`)
	got := strings.Join(c.readLine("done"), "\n")
	want := "\n. capture error 601\n\n. display \"rc=\" _rc\nrc=601\n\n" +
		". capture noisily error 198\ninvalid syntax\n\n. display \"rc=\" _rc*2\nrc=396\n\n" +
		". capture display \"quiet\"\n\n. display \"rc=\" _rc\nrc=0\n\n. display \"done\"\ndone"
	if got != want {
		t.Errorf("capture:\n%s\nwant:\n%s", got, want)
	}
}

// waitEcho reads until the echo of cmd (the command has started).
func (c *console) waitEcho(cmd string) {
	c.t.Helper()
	c.readLine(". " + cmd)
}

// TestConsoleBreak interrupts a long sleep with SIGINT: the block ends at once
// with --Break--, r(1); and _rc 1, the do-file does not go on, and the data
// loaded before are still in memory.
func TestConsoleBreak(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	if _, rc := c.block("load", "sysuse auto\n"); rc != 0 {
		t.Fatalf("sysuse: rc %d", rc)
	}
	c.startBlock("long", "display \"before\"\nsleep 60000\ndisplay \"after\"\n")
	c.waitEcho("sleep 60000")
	sent := time.Now()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	out, rc := c.finishBlock("long", replyTimeout)
	took := time.Since(sent)
	t.Logf("Break answered in %v", took)
	if took > 5*time.Second {
		t.Errorf("Break took %v; want well under the sleep's 60 s", took)
	}
	if want := ". sleep 60000\n--Break--\nr(1);\n\nend of do-file\n\n"; rc != 1 || !strings.HasSuffix(out, want) || strings.Contains(out, "after") {
		t.Errorf("interrupted block (rc %d):\n%s\nwant rc 1 and the end:\n%s", rc, out, want)
	}
	c.send("quietly describe, short", `display "@@caddy-stata data t " r(N) " " r(k)`)
	c.readLine("@@caddy-stata data t 74 6")

}

// TestConsoleNobreak checks that nobreak holds Break off until its command
// ends; the Break then takes effect (Stata defers it).
func TestConsoleNobreak(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	const ms = 1500
	start := time.Now()
	c.startBlock("nb", fmt.Sprintf("nobreak sleep %d\ndisplay \"after\"\n", ms))
	c.waitEcho(fmt.Sprintf("nobreak sleep %d", ms))
	for i := 0; i < 3; i++ {
		if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
	}
	out, rc := c.finishBlock("nb", replyTimeout)
	if took := time.Since(start); took < ms*time.Millisecond {
		t.Errorf("the block ended after %v, before its nobreak sleep of %d ms", took, ms)
	}
	if !strings.Contains(out, fmt.Sprintf(". nobreak sleep %d\n--Break--\nr(1);\n", ms)) || strings.Contains(out, "after") || rc != 1 {
		t.Errorf("nobreak block (rc %d):\n%s\nwant the deferred Break and rc 1", rc, out)
	}
}

// TestConsoleGraphs draws graphs, lists them as the runner does, exports each
// to a PNG that image/png decodes, and drops them.
func TestConsoleGraphs(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	out, rc := c.block("g", "sysuse auto\nscatter mpg weight\nhistogram price, name(prices)\ntwoway (line mpg weight if foreign), name(prices, replace)\n")
	if rc != 0 || !strings.Contains(out, "(bin=8, start=") {
		t.Fatalf("drawing (rc %d):\n%s", rc, out)
	}
	c.send("quietly graph dir, memory", "display \"@@caddy-stata graphs t \" \"`r(list)'\"")
	c.readLine("@@caddy-stata graphs t Graph prices")
	for _, name := range []string{"Graph", "prices"} {
		file := filepath.Join(c.dir, "graph-"+name+".png")
		c.send(`quietly graph export "`+file+`", name(`+name+`) as(png) replace`, `display "exported"`)
		c.readLine("exported")
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if b := img.Bounds(); b.Dx() < 8 || b.Dy() < 8 {
			t.Errorf("%s is %v", file, b)
		}
	}
	c.send("graph drop _all", "quietly graph dir, memory", "display \"@@caddy-stata graphs t \" \"`r(list)'\"")
	c.readLine("@@caddy-stata graphs t ")

	// A taken name needs replace; exporting a graph that is not there fails.
	c.send("scatter price mpg, name(p1)", "scatter price mpg, name(p1)", `graph export "x.png", name(nope)`, `display "done"`)
	got := strings.Join(c.readLine("done"), "\n")
	for _, want := range []string{"graph p1 already exists\nr(110);", "graph nope not found\nr(111);"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestConsoleEndOfInput checks that the stand-in exits with status 0 when
// stdin ends, and that SIGTERM ends it during a command.
func TestConsoleEndOfInput(t *testing.T) {
	c := startConsole(t)
	c.ready("r")
	c.stdin.Close()
	for range c.lines {
	}
	select {
	case <-c.done:
		if c.waitErr != nil {
			t.Errorf("exit at end of input: %v", c.waitErr)
		}
	case <-time.After(replyTimeout):
		t.Fatal("no exit after end of input")
	}

	c = startConsole(t)
	c.ready("r")
	c.send("sleep 60000")
	c.waitEcho("sleep 60000")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range c.lines {
	}
	select {
	case <-c.done:
		if ee, ok := c.waitErr.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("after SIGTERM: %v, want killed by SIGTERM", c.waitErr)
		}
	case <-time.After(replyTimeout):
		t.Fatal("SIGTERM did not end the stand-in")
	}
}

func TestParseArgsConsole(t *testing.T) {
	for _, argv := range [][]string{{"-q"}, {}} {
		inv, err := parseArgs(argv)
		if err != nil || !inv.console || inv.quiet != (len(argv) == 1) {
			t.Errorf("parseArgs(%q) = %+v, %v; want console mode", argv, inv, err)
		}
	}
	if _, err := parseArgs([]string{"-q", "job.do"}); err == nil {
		t.Error("a do-file without -b: no error")
	}
}
