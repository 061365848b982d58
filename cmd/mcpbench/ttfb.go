package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// timedCall makes one tools/call over a fresh connection and returns the
// time from the request's first byte sent to the response's first byte
// received (the connection is made before the clock starts), after checking
// that the answer is a result.
func timedCall(addr, body string, held bool) (time.Duration, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	req := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		addr, len(body), body)
	br := bufio.NewReaderSize(conn, 4096)
	start := time.Now()
	if _, err := io.WriteString(conn, req); err != nil {
		return 0, err
	}
	if _, err := br.Peek(1); err != nil {
		return 0, err
	}
	ttfb := time.Since(start)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if isSSE := resp.Header.Get("Content-Type") == "text/event-stream"; isSSE != held {
		return 0, fmt.Errorf("held: %v, want %v: %s %s", isSSE, held, resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"result"`)) {
		return 0, fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	return ttfb, nil
}

// timedCalls makes n calls from conc workers and returns the sorted times
// to first byte.
func timedCalls(addr, body string, held bool, n, conc int) ([]time.Duration, failures) {
	var (
		mu    sync.Mutex
		out   []time.Duration
		fails failures
		wg    sync.WaitGroup
	)
	next := make(chan int)
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for range conc {
		wg.Go(func() {
			for range next {
				d, err := timedCall(addr, body, held)
				mu.Lock()
				if err != nil {
					fails.add("call", err.Error())
				} else {
					out = append(out, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(out)
	return out, fails
}

// timeToFirstByte measures how soon a held call's stream starts with grace
// 0 and grace 1s, beside reverse_proxy alone answering a fast call (the
// floor: loopback, the proxy and the upstream).
func timeToFirstByte(cfg *config, up *upstreamProc) ([]row, []string, error) {
	g0, err := newSite(up.addr, "\tmcp_keepalive {\n\t\tgrace 0\n\t\tinterval 1s\n\t}\n\treverse_proxy {upstream}")
	if err != nil {
		return nil, nil, err
	}
	g1, err := newSite(up.addr, "\tmcp_keepalive {\n\t\tgrace 1s\n\t\tinterval 1s\n\t}\n\treverse_proxy {upstream}")
	if err != nil {
		return nil, nil, err
	}
	rp, err := newSite(up.addr, "\treverse_proxy {upstream}")
	if err != nil {
		return nil, nil, err
	}
	c, err := startCaddy(cfg.binary, g0, g1, rp)
	if err != nil {
		return nil, nil, err
	}
	defer c.stop()

	n0, n1 := 400, 120
	if cfg.quick {
		n0, n1 = 40, 20
	}
	const fast = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fast","arguments":{}}}`
	sleep := func(ms int) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":%d}}}`, ms)
	}
	// Warm up both paths.
	timedCalls(rp.addr(), fast, false, 20, 2)
	timedCalls(g0.addr(), sleep(10), true, 20, 2)

	base, fb := timedCalls(rp.addr(), fast, false, n0, 4)
	t0, f0 := timedCalls(g0.addr(), sleep(100), true, n0, 4)
	t1, f1 := timedCalls(g1.addr(), sleep(1300), true, n1, 20)

	const few = 5 * time.Millisecond
	rows := []row{
		{"time to first byte, held call", "grace 0: p50 / p99 (4 at a time)",
			fmt.Sprintf("%s / %s", ms(percentile(t0, 50)), ms(percentile(t0, 99))),
			fmt.Sprintf("reverse_proxy alone, fast call: %s / %s", ms(percentile(base, 50)), ms(percentile(base, 99))),
			"p99 <= grace + 5 ms", verdict(len(t0) > 0 && percentile(t0, 99) <= few)},
		{"time to first byte, held call", "grace 1s: p50 / p99 (20 at a time)",
			fmt.Sprintf("%s / %s", ms(percentile(t1, 50)), ms(percentile(t1, 99))),
			"grace 1000 ms", "p99 <= grace + 5 ms", verdict(len(t1) > 0 && percentile(t1, 99) <= time.Second+few)},
		{"time to first byte, held call", "failed calls",
			fmt.Sprintf("%d", f0.n+f1.n), fmt.Sprintf("%d", fb.n), "0", verdict(f0.n+f1.n+fb.n == 0)},
	}
	var notes []string
	for _, f := range []failures{fb, f0, f1} {
		if f.n > 0 {
			notes = append(notes, "time to first byte: "+f.String()+": "+fmt.Sprint(f.examples))
		}
	}
	return rows, notes, nil
}
