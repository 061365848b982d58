package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-stata/caddy-stata/internal/sse"
)

// holdInterval is the keep-alive interval of the holding runs.
const holdInterval = time.Second

// fdReserve is how many descriptors a process needs besides its sockets
// for held calls: listeners, the log, epoll, and room to spare.
const fdReserve = 64

// holdingAll runs the holding measurement for each count. A count that the
// open-file limit cannot hold over HTTP/1.1 (two sockets per call in the
// proxy) runs with h2c to the upstream instead, which multiplexes the
// upstream side over a few connections, and is followed by the largest
// HTTP/1.1 count that fits.
func holdingAll(cfg *config, up *upstreamProc) ([]row, []string, error) {
	var rows []row
	var notes []string
	fits := func(n int) bool { return uint64(2*n+fdReserve) <= cfg.files.soft }
	for _, n := range cfg.held {
		runs := []struct {
			n   int
			h2c bool
		}{{n, false}}
		if !fits(n) {
			most := (int(cfg.files.soft) - fdReserve) / 2 / 100 * 100
			notes = append(notes, fmt.Sprintf(
				"holding %d calls over HTTP/1.1 needs %d sockets in the proxy (one to the client and one to the upstream per call) plus its own descriptors, over the open-file limit of %d (hard limit %d); "+
					"so %d calls ran with h2c to the upstream (client side still one HTTP/1.1 connection per call), and %d calls, the most that fit, over HTTP/1.1",
				n, 2*n, cfg.files.soft, cfg.files.hard, n, most))
			runs = []struct {
				n   int
				h2c bool
			}{{n, true}, {most, false}}
		}
		for _, r := range runs {
			rr, nn, err := holdLevel(cfg, up, r.n, r.h2c)
			rows, notes = append(rows, rr...), append(notes, nn...)
			if err != nil {
				return rows, notes, fmt.Errorf("%d held calls: %w", r.n, err)
			}
		}
	}
	return rows, notes, nil
}

// heldCall is what one client saw of its held call.
type heldCall struct {
	t0, tEnd   time.Time
	lateness   []float32 // ms after the schedule t0 + k*interval, per keep-alive
	ok         bool
	reason     string
	detail     string
	keepalives int
}

// fail records why the call failed, the first time.
func (h *heldCall) fail(reason, detail string) {
	if h.reason == "" && !h.ok {
		h.reason, h.detail = reason, detail
	}
}

// holdRun says what one holding measurement does.
type holdRun struct {
	n       int
	plain   bool // reverse_proxy alone: the calls wait open, nothing is sent until the answer
	h2c     bool // h2c to the upstream
	holdFor time.Duration
}

// label names the run in logs and file names.
func (r holdRun) label() string {
	proxy, up := "mcp_keepalive", "HTTP/1.1"
	if r.plain {
		proxy = "reverse_proxy alone"
	}
	if r.h2c {
		up = "h2c"
	}
	return fmt.Sprintf("%d calls, %s upstream, %s", r.n, up, proxy)
}

// holdStats are the measurements of one run.
type holdStats struct {
	idle, peak, plStart, plEnd, final procSample
	rtIdle, rt                        runtimeStats
	rtErr                             error
	ramp                              time.Duration
	lateness                          []float32 // sorted
	received, expected, ok            int
	fails                             failures
	logged                            int     // "held call finished" lines in the log
	foreign                           float64 // share of the machine other processes used on the plateau
}

// perCall returns the resident memory per open call.
func (s *holdStats) perCall(n int) float64 { return float64(s.peak.rss-s.idle.rss) / float64(n) }

// plateauCPU returns the CPU time and the share of one core used while
// every call was open.
func (s *holdStats) plateauCPU() (time.Duration, float64) {
	cpu := s.plEnd.cpu - s.plStart.cpu
	return cpu, cpu.Seconds() / s.plEnd.at.Sub(s.plStart.at).Seconds()
}

// holdLevel measures n held calls, and the same n calls open through
// reverse_proxy alone as the baseline.
func holdLevel(cfg *config, up *upstreamProc, n int, h2c bool) ([]row, []string, error) {
	ka, err := holdOne(cfg, up, holdRun{n: n, h2c: h2c, holdFor: cfg.holdFor})
	if err != nil {
		return nil, nil, err
	}
	rp, err := holdOne(cfg, up, holdRun{n: n, h2c: h2c, plain: true, holdFor: min(cfg.holdFor, 20*time.Second)})
	if err != nil {
		return nil, nil, err
	}
	upName := "HTTP/1.1"
	if h2c {
		upName = "h2c"
	}
	sec := fmt.Sprintf("holding %d calls, %s upstream", n, upName)
	msd := func(v float32) time.Duration { return time.Duration(float64(v) * float64(time.Millisecond)) }
	p50, p99, worst := msd(percentile(ka.lateness, 50)), msd(percentile(ka.lateness, 99)), msd(percentile(ka.lateness, 100))
	kaCPU, kaShare := ka.plateauCPU()
	rpCPU, rpShare := rp.plateauCPU()
	rows := []row{
		{sec, "resident memory per held call: (peak RSS - idle RSS) / calls", kib(ka.perCall(n)),
			fmt.Sprintf("reverse_proxy alone, calls open: %s", kib(rp.perCall(n))), "", ""},
		{sec, "  ratio to reverse_proxy alone", fmt.Sprintf("%.2f", ka.perCall(n)/rp.perCall(n)), "", "<= 1.30",
			verdict(ka.perCall(n) <= 1.3*rp.perCall(n))},
		{sec, "  idle RSS -> RSS while held", fmt.Sprintf("%s -> %s", mib(ka.idle.rss), mib(ka.peak.rss)),
			fmt.Sprintf("%s -> %s", mib(rp.idle.rss), mib(rp.peak.rss)), "", ""},
	}
	if ka.rtErr == nil && rp.rtErr == nil {
		per := func(s *holdStats) string {
			return fmt.Sprintf("%s heap + %s stacks, %.2f goroutines",
				kib(float64(s.rt.heapInuse-s.rtIdle.heapInuse)/float64(n)),
				kib(float64(s.rt.stackInuse-s.rtIdle.stackInuse)/float64(n)),
				float64(s.rt.goroutines-s.rtIdle.goroutines)/float64(n))
		}
		rows = append(rows, row{sec, "  per call: Go heap in use, goroutine stacks, goroutines", per(&ka), per(&rp), "", ""})
	}
	rows = append(rows,
		row{sec, "keep-alive lateness p50 / p99 / max", fmt.Sprintf("%s / %s / %s", ms(p50), ms(p99), ms(worst)),
			fmt.Sprintf("interval %s", holdInterval), "max < 1 s", verdict(len(ka.lateness) > 0 && worst < time.Second)},
		row{sec, "other processes' CPU while all calls are open", fmt.Sprintf("%.0f%% of the machine", 100*ka.foreign),
			fmt.Sprintf("%.0f%%", 100*rp.foreign), "", ""},
		row{sec, "keep-alives received / expected", fmt.Sprintf("%d / %d", ka.received, ka.expected), "", "", ""},
		row{sec, "CPU while all calls are open",
			fmt.Sprintf("%.2f s in %s (%.1f%% of a core)", kaCPU.Seconds(), ka.plEnd.at.Sub(ka.plStart.at).Round(time.Second), 100*kaShare),
			fmt.Sprintf("%.2f s in %s (%.1f%%)", rpCPU.Seconds(), rp.plEnd.at.Sub(rp.plStart.at).Round(time.Second), 100*rpShare), "", ""},
		row{sec, "CPU in all: ramp, hold, answers", fmt.Sprintf("%.2f s, ramp %s", (ka.final.cpu - ka.idle.cpu).Seconds(), ka.ramp.Round(100*time.Millisecond)),
			fmt.Sprintf("%.2f s, ramp %s", (rp.final.cpu - rp.idle.cpu).Seconds(), rp.ramp.Round(100*time.Millisecond)), "", ""},
		row{sec, "calls that got their final response", fmt.Sprintf("%d / %d", ka.ok, n), fmt.Sprintf("%d / %d", rp.ok, n), "all",
			verdict(ka.ok == n && rp.ok == n)},
	)
	var notes []string
	for _, x := range []struct {
		name string
		s    *holdStats
	}{{"mcp_keepalive", &ka}, {"reverse_proxy alone", &rp}} {
		if x.s.fails.n > 0 {
			notes = append(notes, fmt.Sprintf("%s, %s: %d failed calls (%s); e.g. %s", sec, x.name, x.s.fails.n, x.s.fails.String(), strings.Join(x.s.fails.examples, "; ")))
		}
		if x.s.rtErr != nil {
			notes = append(notes, fmt.Sprintf("%s, %s: runtime statistics: %v", sec, x.name, x.s.rtErr))
		}
	}
	if ka.logged != ka.ok {
		notes = append(notes, fmt.Sprintf("%s: caddy-stata logged %d finished held calls for %d answered", sec, ka.logged, ka.ok))
	}
	return rows, notes, nil
}

// holdOne holds run.n calls at once in a fresh caddy-stata, for
// run.holdFor after the last one reached the upstream, then releases them
// all and waits for every answer.
func holdOne(cfg *config, up *upstreamProc, run holdRun) (holdStats, error) {
	var st holdStats
	label := run.label()
	transport := ""
	if run.h2c {
		transport = "\n\t\ttransport http {\n\t\t\tversions h2c\n\t\t}"
	}
	body := fmt.Sprintf("\tmcp_keepalive {\n\t\tinterval %s\n\t\tmax_held %d\n\t}\n\treverse_proxy {upstream} {%s\n\t}",
		holdInterval, run.n+100, transport)
	if run.plain {
		body = fmt.Sprintf("\treverse_proxy {upstream} {%s\n\t}", transport)
	}
	s, err := newSite(up.addr, body)
	if err != nil {
		return st, err
	}
	c, err := startCaddy(cfg.binary, s)
	if err != nil {
		return st, err
	}
	defer c.stop()
	logf("%s: caddy-stata pid %d", label, c.pid())

	// Warm up, and let the process settle, before taking the baseline.
	warm := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, s.url()+"/mcp",
			strings.NewReader(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"fast","arguments":{}}}`, i)))
		mcpHeaders(req.Header)
		resp, err := warm.Do(req)
		if err != nil {
			return st, fmt.Errorf("warm-up: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	warm.CloseIdleConnections()
	time.Sleep(time.Second)
	if st.rtIdle, err = c.runtimeStats(); err != nil {
		return st, err
	}
	if st.idle, err = sampleProc(c.pid()); err != nil {
		return st, err
	}
	need := 2*run.n + fdReserve
	if run.h2c {
		need = run.n + run.n/100 + fdReserve
	}
	if uint64(need) > cfg.files.soft {
		return st, fmt.Errorf("needs about %d open files in the proxy, the limit is %d", need, cfg.files.soft)
	}

	gate := fmt.Sprintf("g%d", time.Now().UnixNano())
	calls := make([]heldCall, run.n)
	var started, failed atomic.Int64 // calls committed (sent, for reverse_proxy alone); calls failed
	sem := make(chan struct{}, 1000)
	deadline := time.Now().Add(run.holdFor + 10*time.Minute)
	var wg sync.WaitGroup
	rampStart := time.Now()
	go func() {
		for i := range run.n {
			sem <- struct{}{}
			wg.Go(func() {
				runHeldCall(s.addr(), i, gate, &calls[i], sem, &started, &failed, deadline, run)
			})
		}
	}()
	// Settled: every call waits at the upstream's gate and, held, has its
	// stream committed; or failed.
	for {
		w, err := up.waiting(gate)
		if err != nil {
			return st, err
		}
		f := int(failed.Load())
		if w+f >= run.n && int(started.Load())+f >= run.n {
			break
		}
		if time.Since(rampStart) > 5*time.Minute {
			return st, fmt.Errorf("after 5 minutes %d calls wait at the upstream, %d started, %d failed, of %d", w, started.Load(), f, run.n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st.ramp = time.Since(rampStart)
	logf("%s: all settled in %s; holding for %s", label, st.ramp.Round(time.Millisecond), run.holdFor)

	// The plateau: every call open at once. Resident memory is sampled
	// every second; the Go runtime's own figures (after a collection) and
	// the profiles once, half way.
	l0 := readLoad(c.pid())
	st.plStart, _ = sampleProc(c.pid())
	st.peak = st.plStart
	mid := time.Now().Add(run.holdFor / 2)
	var profiling sync.WaitGroup
	if cfg.profile != "" && !run.plain {
		profiling.Go(func() {
			time.Sleep(run.holdFor / 4)
			secs := max(1, int(run.holdFor.Seconds()/3))
			if err := c.saveProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs),
				filepath.Join(cfg.profile, fileName(label)+".cpu.pprof"), time.Duration(secs+60)*time.Second); err != nil {
				logf("cpu profile: %v", err)
			}
		})
	}
	end := st.plStart.at.Add(run.holdFor)
	for took := false; time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		if sm, err := sampleProc(c.pid()); err == nil && sm.rss > st.peak.rss {
			st.peak = sm
		}
		if !took && time.Now().After(mid) {
			took = true
			st.rt, st.rtErr = c.runtimeStats()
			if cfg.profile != "" {
				for path, ext := range map[string]string{"/debug/pprof/heap?gc=1": ".heap.pprof", "/debug/pprof/goroutine?debug=1": ".goroutines.txt"} {
					if err := c.saveProfile(path, filepath.Join(cfg.profile, fileName(label)+ext), time.Minute); err != nil {
						logf("profile %s: %v", path, err)
					}
				}
			}
		}
	}
	st.plEnd, _ = sampleProc(c.pid())
	st.foreign = foreign(l0, readLoad(c.pid()))
	if st.plEnd.rss > st.peak.rss {
		st.peak = st.plEnd
	}
	profiling.Wait()

	// Release every call and wait for the answers.
	if err := up.release(gate); err != nil {
		return st, err
	}
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()
	select {
	case <-allDone:
	case <-time.After(5 * time.Minute):
		return st, fmt.Errorf("calls still open 5 minutes after their release")
	}
	st.final, _ = sampleProc(c.pid())
	logf("%s: all answered %s after release", label, time.Since(st.plEnd.at).Round(time.Millisecond))

	for i := range calls {
		hc := &calls[i]
		st.lateness = append(st.lateness, hc.lateness...)
		st.received += hc.keepalives
		if hc.ok {
			st.ok++
			st.expected += int(hc.tEnd.Sub(hc.t0)/holdInterval) + 1
		} else {
			st.fails.add(or(hc.reason, "unknown"), fmt.Sprintf("call %d: %s: %s", i, hc.reason, hc.detail))
		}
	}
	if run.plain {
		st.expected = 0
	}
	slices.Sort(st.lateness)
	st.logged = c.logCount(`"msg":"held call finished"`)
	return st, nil
}

// runHeldCall makes one call of the gate tool, with a progress token, over
// its own connection. Held (mcp_keepalive), it notes when the stream is
// committed and times every keep-alive against its schedule until the final
// response; through reverse_proxy alone it waits for the JSON answer.
func runHeldCall(addr string, i int, gate string, hc *heldCall, sem chan struct{}, started, failed *atomic.Int64,
	deadline time.Time, run holdRun) {
	released := false
	release := func(ok bool) {
		if !released {
			released = true
			<-sem
			if ok {
				started.Add(1)
			} else {
				failed.Add(1)
			}
		}
	}
	defer release(false)
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		hc.fail("dial", err.Error())
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"gate","arguments":{"gate":%q},"_meta":{"progressToken":%d}}}`, i, gate, i)
	req := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		hc.fail("write", err.Error())
		return
	}
	if run.plain {
		release(true)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	hc.t0 = time.Now()
	if err != nil {
		hc.fail("response headers", err.Error())
		return
	}
	defer resp.Body.Close()
	wantID := strconv.Itoa(i)
	if run.plain {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err != nil {
			hc.fail("read", err.Error())
			return
		}
		hc.tEnd = time.Now()
		hc.final(b, wantID)
		return
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		hc.fail("not held", fmt.Sprintf("%s %s: %s", resp.Status, resp.Header.Get("Content-Type"), b))
		return
	}
	release(true)
	hc.lateness = make([]float32, 0, int(run.holdFor/holdInterval)+16)
	dec := sse.NewDecoder(0)
	buf := make([]byte, 512)
	var now time.Time
	done := false
	emit := func(ev sse.Event) {
		if done {
			hc.ok = false
			hc.fail("event after the response", ev.Data)
			return
		}
		if strings.Contains(ev.Data, `"method":"notifications/progress"`) {
			late := now.Sub(hc.t0.Add(time.Duration(hc.keepalives) * holdInterval))
			hc.lateness = append(hc.lateness, float32(late.Seconds()*1000))
			hc.keepalives++
			return
		}
		done = true
		hc.tEnd = now
		hc.final([]byte(ev.Data), wantID)
	}
	for {
		n, err := resp.Body.Read(buf)
		now = time.Now()
		dec.Feed(buf[:n], emit)
		if err == io.EOF {
			if !done {
				hc.fail("stream ended without the response", "")
			}
			return
		}
		if err != nil {
			hc.ok = false
			hc.fail("read", err.Error())
			return
		}
	}
}

// final checks the final message of a call: the result for wantID.
func (h *heldCall) final(data []byte, wantID string) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	switch err := json.Unmarshal(data, &m); {
	case err != nil:
		h.fail("unparsable answer", string(data))
	case string(m.ID) != wantID:
		h.fail("wrong id", string(data))
	case m.Error != nil:
		h.fail("error response", string(data))
	case m.Result == nil:
		h.fail("no result", string(data))
	default:
		h.ok = true
	}
}

// fileName turns a label into a file name.
func fileName(label string) string {
	return strings.NewReplacer(" ", "-", ",", "", "/", "", "(", "", ")", "").Replace(label)
}
