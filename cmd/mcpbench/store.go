package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeBurst is how many events the upstream sends per call in the store
// section, before the result.
const storeBurst = 20

// storeStats are the measurements of one store section run.
type storeStats struct {
	idle, plateau procSample
	ok            int           // calls that got their result
	events        int           // events the clients received
	elapsed       time.Duration // from the release to the last result
	mirrored      int           // events found in Redis (redis only)
	mirrorTime    time.Duration // from the release until they were all there
	storeErrors   float64
}

// storeCompare holds cfg.storeCalls calls with the memory store and then
// with the Redis store (against a redis-server it starts, when one is
// installed), and reports for each the resident memory per held call and
// the events per second the clients received once the upstream sends
// storeBurst events per call as fast as it can; for Redis also how long
// Redis took to have every event.
func storeCompare(cfg *config, up *upstreamProc) ([]row, []string, error) {
	n := cfg.storeCalls
	sec := fmt.Sprintf("stream store, %d held calls", n)
	mem, err := storeOne(cfg, up, n, "")
	if err != nil {
		return nil, nil, fmt.Errorf("memory store: %w", err)
	}
	rows := []row{}
	eps := func(s storeStats) string {
		return fmt.Sprintf("%.0f events/s (%d events in %s)", float64(s.events)/s.elapsed.Seconds(), s.events, s.elapsed.Round(time.Millisecond))
	}
	addr, stop, err := startRedisServer()
	if err != nil {
		rows = append(rows,
			row{sec, "resident memory per held call", "redis: not run", "memory: " + kib(float64(mem.plateau.rss-mem.idle.rss)/float64(n)), "", ""},
			row{sec, "events per second to the clients", "redis: not run", "memory: " + eps(mem), "", ""})
		return rows, []string{"stream store: " + err.Error()}, nil
	}
	defer stop()
	rd, err := storeOne(cfg, up, n, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("redis store: %w", err)
	}
	rows = append(rows,
		row{sec, "resident memory per held call", "redis: " + kib(float64(rd.plateau.rss-rd.idle.rss)/float64(n)),
			"memory: " + kib(float64(mem.plateau.rss-mem.idle.rss)/float64(n)), "", ""},
		row{sec, "events per second to the clients", "redis: " + eps(rd), "memory: " + eps(mem), "", ""},
		row{sec, "events in Redis / sent; time until all there", fmt.Sprintf("%d / %d; %s (%.0f events/s)", rd.mirrored, n*(storeBurst+1),
			rd.mirrorTime.Round(time.Millisecond), float64(rd.mirrored)/rd.mirrorTime.Seconds()), "", "all", verdict(rd.mirrored == n*(storeBurst+1))},
		row{sec, "caddy_mcp_keepalive_store_errors_total", fmt.Sprintf("%.0f", rd.storeErrors), "", "0", verdict(rd.storeErrors == 0)},
		row{sec, "calls that got their final response", fmt.Sprintf("%d / %d", rd.ok, n), fmt.Sprintf("%d / %d", mem.ok, n), "all",
			verdict(rd.ok == n && mem.ok == n)},
	)
	return rows, nil, nil
}

// storeOne holds n burst calls in a fresh caddy-stata whose store is
// memory, or Redis at redisAddr, releases them together and waits for every
// result.
func storeOne(cfg *config, up *upstreamProc, n int, redisAddr string) (storeStats, error) {
	var st storeStats
	store, label := "", "memory store"
	prefix := fmt.Sprintf("mcpbench-%d:", time.Now().UnixNano())
	if redisAddr != "" {
		store = fmt.Sprintf("\n\t\tstore redis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t}", redisAddr, prefix)
		label = "redis store"
	}
	s, err := newSite(up.addr, fmt.Sprintf("\tmcp_keepalive {\n\t\tgrace 0\n\t\tinterval %s\n\t\tmax_held %d%s\n\t}\n\treverse_proxy {upstream}",
		holdInterval, n+100, store))
	if err != nil {
		return st, err
	}
	c, err := startCaddy(cfg.binary, s)
	if err != nil {
		return st, err
	}
	defer c.stop()
	logf("%s: caddy-stata pid %d", label, c.pid())
	time.Sleep(time.Second)
	if st.idle, err = sampleProc(c.pid()); err != nil {
		return st, err
	}

	gate := fmt.Sprintf("s%d", time.Now().UnixNano())
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: -1}}
	var started, events, ok atomic.Int64
	var lastMu sync.Mutex
	var last time.Time
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200) // connections being opened at once
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"burst","arguments":{"gate":%q,"count":%d}}}`, i, gate, storeBurst)
			req, _ := http.NewRequest(http.MethodPost, s.url()+"/mcp", strings.NewReader(body))
			mcpHeaders(req.Header)
			resp, err := client.Do(req)
			<-sem
			if err != nil {
				return
			}
			defer resp.Body.Close()
			started.Add(1)
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if !strings.HasPrefix(line, "data: {") {
					continue
				}
				events.Add(1)
				if strings.Contains(line, `"result"`) {
					ok.Add(1)
					lastMu.Lock()
					last = time.Now()
					lastMu.Unlock()
					return
				}
			}
		})
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		w, err := up.waiting(gate)
		if err != nil {
			return st, err
		}
		if w >= n && int(started.Load()) >= n {
			break
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("after 5 minutes %d of %d calls are held", started.Load(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a few keep-alives: the plateau
	st.plateau, _ = sampleProc(c.pid())

	release := time.Now()
	if err := up.release(gate); err != nil {
		return st, err
	}
	wg.Wait()
	st.elapsed = last.Sub(release)
	st.ok, st.events = int(ok.Load()), int(events.Load())
	logf("%s: %d calls answered, %d events in %s", label, st.ok, st.events, st.elapsed.Round(time.Millisecond))
	if redisAddr == "" {
		return st, nil
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	want := n * (storeBurst + 1)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		st.mirrored = countEntries(rdb, prefix+"s:*")
		st.mirrorTime = time.Since(release)
		if st.mirrored >= want || time.Now().After(deadline) {
			break
		}
	}
	if b, err := c.adminGet("/metrics", 10*time.Second); err == nil {
		for _, m := range regexp.MustCompile(`(?m)^caddy_mcp_keepalive_store_errors_total\{[^}]*\} (\S+)$`).FindAllSubmatch(b, -1) {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			st.storeErrors += v
		}
	}
	return st, nil
}

// countEntries returns the entries of all Redis streams whose keys match
// pattern.
func countEntries(rdb *redis.Client, pattern string) int {
	ctx := context.Background()
	total := 0
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	pipe := rdb.Pipeline()
	var cmds []*redis.IntCmd
	for iter.Next(ctx) {
		cmds = append(cmds, pipe.XLen(ctx, iter.Val()))
	}
	if len(cmds) == 0 {
		return 0
	}
	_, _ = pipe.Exec(ctx)
	for _, c := range cmds {
		total += int(c.Val())
	}
	return total
}

// startRedisServer starts a redis-server with no persistence on a free
// loopback port, and returns its address and a function that stops it.
func startRedisServer() (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found on PATH (Debian: apt-get install -y redis-server): the Redis store was not measured")
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "mcpbench-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for deadline := time.Now().Add(30 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not answer within 30s")
		}
	}
	return addr, stop, nil
}
