package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// site is one site block of a generated Caddyfile: an address on loopback
// and the directives inside it.
type site struct {
	port int
	body string
}

// url returns the site's base URL.
func (s site) url() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// addr returns the site's host:port.
func (s site) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// newSite returns a site on a free port with body, in which {upstream} is
// replaced by upstream's host:port.
func newSite(upstream, body string) (site, error) {
	port, err := freePort()
	if err != nil {
		return site{}, err
	}
	return site{port: port, body: strings.ReplaceAll(body, "{upstream}", upstream)}, nil
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// caddyProc is one running caddy-stata process.
type caddyProc struct {
	cmd     *exec.Cmd
	dir     string
	admin   string // host:port of the admin endpoint
	logPath string
	exited  chan struct{}
}

// startCaddy runs binary with a Caddyfile made of sites, with its admin
// endpoint on a free loopback port, its state in a temporary folder, and
// its log in a file there; it returns once every site accepts connections.
func startCaddy(binary string, sites ...site) (*caddyProc, error) {
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mcpbench-caddy-")
	if err != nil {
		return nil, err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "{\n\tadmin 127.0.0.1:%d\n\tpersist_config off\n\tauto_https off\n}\n", adminPort)
	for _, s := range sites {
		fmt.Fprintf(&cfg, "\nhttp://127.0.0.1:%d {\n%s\n}\n", s.port, s.body)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c := &caddyProc{dir: dir, admin: fmt.Sprintf("127.0.0.1:%d", adminPort), logPath: logf.Name(), exited: make(chan struct{})}
	c.cmd = exec.Command(binary, "run", "--config", path, "--adapter", "caddyfile")
	c.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range sites {
		for {
			conn, err := net.DialTimeout("tcp", s.addr(), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-c.exited:
				return nil, fmt.Errorf("caddy-stata exited at start:\n%s", c.logTail(40))
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				c.stop()
				return nil, fmt.Errorf("caddy-stata did not serve %s within 30s:\n%s", s.addr(), c.logTail(40))
			}
		}
	}
	return c, nil
}

// pid returns the process id.
func (c *caddyProc) pid() int { return c.cmd.Process.Pid }

// stop ends the process and removes its folder.
func (c *caddyProc) stop() {
	_ = c.cmd.Process.Kill()
	<-c.exited
	_ = os.RemoveAll(c.dir)
}

// logTail returns the last n lines of the process's log.
func (c *caddyProc) logTail(n int) string {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logCount counts the lines of the process's log that contain s.
func (c *caddyProc) logCount(s string) int {
	b, _ := os.ReadFile(c.logPath)
	return bytes.Count(b, []byte(s))
}

// adminGet fetches a path of the admin endpoint.
func (c *caddyProc) adminGet(path string, timeout time.Duration) ([]byte, error) {
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + c.admin + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin %s: %s: %s", path, resp.Status, b)
	}
	return b, nil
}

// runtimeStats are what the Go runtime of caddy-stata reports through
// /debug/pprof on its admin endpoint.
type runtimeStats struct {
	heapInuse, stackInuse, sys int64
	goroutines                 int
}

// runtimeStats reads the goroutine count and, after a garbage collection,
// the memory statistics that the heap profile's text form ends with.
func (c *caddyProc) runtimeStats() (runtimeStats, error) {
	var st runtimeStats
	b, err := c.adminGet("/debug/pprof/goroutine?debug=1", 30*time.Second)
	if err != nil {
		return st, err
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	if _, err := fmt.Sscanf(string(first), "goroutine profile: total %d", &st.goroutines); err != nil {
		return st, fmt.Errorf("goroutine profile header %q: %w", first, err)
	}
	// gc=1 collects first, so that the figures are of live memory, not of
	// the heap as of whenever the last collection happened to run.
	b, err = c.adminGet("/debug/pprof/heap?gc=1&debug=1", 60*time.Second)
	if err != nil {
		return st, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HeapInuse = "):
			st.heapInuse, _ = strconv.ParseInt(strings.TrimPrefix(line, "# HeapInuse = "), 10, 64)
		case strings.HasPrefix(line, "# Stack = "):
			inuse, _, _ := strings.Cut(strings.TrimPrefix(line, "# Stack = "), " ")
			st.stackInuse, _ = strconv.ParseInt(inuse, 10, 64)
		case strings.HasPrefix(line, "# Sys = "):
			st.sys, _ = strconv.ParseInt(strings.TrimPrefix(line, "# Sys = "), 10, 64)
		}
	}
	return st, nil
}

// saveProfile stores an admin /debug/pprof path in file.
func (c *caddyProc) saveProfile(path, file string, timeout time.Duration) error {
	b, err := c.adminGet(path, timeout)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// procSample is what /proc says of a process at one moment.
type procSample struct {
	at       time.Time
	rss, hwm int64         // resident memory now and at its peak, bytes
	cpu      time.Duration // user plus system CPU time
	fds      int           // open file descriptors
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat. It is
// USER_HZ, 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// sampleProc reads /proc/<pid>/status and /proc/<pid>/stat.
func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		field, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch field {
		case "VmRSS":
			dst = &s.rss
		case "VmHWM":
			dst = &s.hwm
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("%s: %q: %w", field, value, err)
		}
		*dst = kb << 10
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces and parentheses; fields start after
	// the last ')'. utime and stime are fields 14 and 15, so 12th and 13th
	// after the name.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, err
	}
	s.cpu = time.Duration(utime+stime) * clockTick
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(ents)
	}
	return s, nil
}

// resetPeak makes VmHWM start again from the current resident size, so that
// a later peak belongs to what ran in between. It reports whether the kernel
// allowed it.
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// fileLimit is the open-file limit the bench runs with; children inherit it.
type fileLimit struct {
	soft, hard uint64
	note       string
}

// raiseFileLimit raises RLIMIT_NOFILE as far as the process may: the hard
// limit too if it can (it cannot without CAP_SYS_RESOURCE), else the soft
// limit to the hard one. Child processes inherit the result.
func raiseFileLimit(want uint64) fileLimit {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fileLimit{note: "getrlimit: " + err.Error()}
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return fileLimit{soft: want, hard: want}
		}
	}
	note := ""
	if lim.Max < want {
		note = fmt.Sprintf("the hard open-file limit is %d and could not be raised to %d (raising it needs CAP_SYS_RESOURCE, or `ulimit -Hn %d` in the shell as root)", lim.Max, want, want)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		note += "; setrlimit: " + err.Error()
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return fileLimit{soft: lim.Cur, hard: lim.Max, note: note}
}

// upstreamProc is the bench's upstream, run as a child process of the bench
// binary so that its sockets do not count against the bench's own limit.
type upstreamProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	done  chan struct{}
}

// startUpstream runs this program again as the upstream and waits for the
// address it listens on.
func startUpstream() (*upstreamProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	u := &upstreamProc{cmd: exec.Command(exe, "-role=upstream"), done: make(chan struct{})}
	u.cmd.Stderr = os.Stderr
	u.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if u.stdin, err = u.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := u.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := u.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = u.cmd.Wait()
		close(u.done)
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		u.stop()
		return nil, fmt.Errorf("the upstream did not start: %w", err)
	}
	u.addr = strings.TrimSpace(line)
	upstreamPid = u.cmd.Process.Pid
	return u, nil
}

// release lets every call of the gate tool waiting on gate answer.
func (u *upstreamProc) release(gate string) error {
	resp, err := http.Get("http://" + u.addr + "/release?gate=" + gate)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("release: %s", resp.Status)
	}
	return nil
}

// waiting returns how many calls of the gate tool wait on gate.
func (u *upstreamProc) waiting(gate string) (int, error) {
	resp, err := http.Get("http://" + u.addr + "/waiting?gate=" + gate)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}

// stop ends the upstream: it exits when its stdin closes.
func (u *upstreamProc) stop() {
	_ = u.stdin.Close()
	select {
	case <-u.done:
	case <-time.After(5 * time.Second):
		_ = u.cmd.Process.Kill()
		<-u.done
	}
}

// upstreamPid is the pid of the upstream child, counted as the bench's own
// CPU use.
var upstreamPid int

// load is a reading of the machine's CPU use: all of it, and the part used
// by the bench's own processes.
type load struct {
	at         time.Time
	busy, ours time.Duration
}

// readLoad reads /proc/stat and the CPU times of the bench, its reaped
// children, the upstream and the given live processes (the caddy-stata
// under test).
func readLoad(pids ...int) load {
	l := load{at: time.Now()}
	if stat, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(stat), "\n")
		f := strings.Fields(line)
		// cpu user nice system idle iowait irq softirq steal ...: count
		// user, nice, system and steal. Interrupt time is left out: much
		// of it is loopback networking done for the bench itself.
		for i, v := range f[1:] {
			if i != 0 && i != 1 && i != 2 && i != 7 {
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			l.busy += time.Duration(n) * clockTick
		}
	}
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			f := strings.Fields(string(stat[i+1:]))
			for _, v := range f[11:15] { // utime stime cutime cstime
				n, _ := strconv.ParseInt(v, 10, 64)
				l.ours += time.Duration(n) * clockTick
			}
		}
	}
	for _, pid := range append(pids, upstreamPid) {
		if pid == 0 {
			continue
		}
		if s, err := sampleProc(pid); err == nil {
			l.ours += s.cpu
		}
	}
	return l
}

// foreign returns the share of the machine's CPU capacity (0 to 1) that
// processes other than the bench's used between a and b: other work on a
// shared machine, which makes figures noisy.
func foreign(a, b load) float64 {
	wall := b.at.Sub(a.at).Seconds() * float64(runtime.NumCPU())
	if wall <= 0 {
		return 0
	}
	return max(0, ((b.busy-a.busy)-(b.ours-a.ours)).Seconds()/wall)
}
