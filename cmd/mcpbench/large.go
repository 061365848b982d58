package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// largeOutcome is one large-result transfer.
type largeOutcome struct {
	elapsed  time.Duration
	peak     int64 // VmHWM during the transfer, less the idle RSS
	idle     int64
	received int64
}

// largeResult measures a result of cfg.largeMB megabytes through
// mcp_keepalive + reverse_proxy and through reverse_proxy alone: the time
// until the client has all of it and the proxy's peak resident memory.
// Each transfer runs in a fresh caddy-stata, so that one's peak does not
// hide in another's retained heap.
func largeResult(cfg *config, up *upstreamProc) ([]row, []string, error) {
	size := cfg.largeMB * 1000 * 1000
	cases := []struct {
		name    string
		delayMs int
		sse     bool
	}{
		{"JSON answered within grace", 0, false},
		{"JSON answered after 1.5 s (held)", 1500, false},
		{"SSE answered after 1.5 s (held)", 1500, true},
	}
	bound := int64(32 << 20)
	var rows []row
	var notes []string
	for _, tc := range cases {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"large","arguments":{"size":%d,"delay_ms":%d,"sse":%v}}}`,
			size, tc.delayMs, tc.sse)
		var out [2]largeOutcome
		for i, siteBody := range []string{
			"\treverse_proxy {upstream}",
			"\tmcp_keepalive {\n\t\tinterval 1s\n\t}\n\treverse_proxy {upstream}",
		} {
			o, note, err := largeOnce(cfg, up, siteBody, body, size,
				fmt.Sprintf("large-%s-%s", fileName(tc.name), []string{"reverse_proxy", "keepalive"}[i]))
			if err != nil {
				return rows, notes, fmt.Errorf("%s: %w", tc.name, err)
			}
			if note != "" {
				notes = append(notes, note)
			}
			out[1-i] = o
		}
		ka, rp := out[0], out[1]
		sec := fmt.Sprintf("%d MB result, %s", cfg.largeMB, tc.name)
		rows = append(rows,
			row{sec, "time to the last byte", ms(ka.elapsed), ms(rp.elapsed), "", ""},
			row{sec, "proxy peak memory over idle (VmHWM - idle RSS)", mib(ka.peak), mib(rp.peak),
				"<= 32 MiB", verdict(ka.peak <= bound)},
		)
	}
	return rows, notes, nil
}

// largeOnce runs one large transfer through a fresh caddy-stata whose site
// is siteBody.
func largeOnce(cfg *config, up *upstreamProc, siteBody, body string, size int, name string) (largeOutcome, string, error) {
	var o largeOutcome
	s, err := newSite(up.addr, siteBody)
	if err != nil {
		return o, "", err
	}
	c, err := startCaddy(cfg.binary, s)
	if err != nil {
		return o, "", err
	}
	defer c.stop()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	post := func(body string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, s.url()+"/mcp", strings.NewReader(body))
		mcpHeaders(req.Header)
		return client.Do(req)
	}
	for range 5 {
		resp, err := post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fast","arguments":{}}}`)
		if err != nil {
			return o, "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(500 * time.Millisecond)
	idle, err := sampleProc(c.pid())
	if err != nil {
		return o, "", err
	}
	note := ""
	if !resetPeak(c.pid()) {
		note = "large result: VmHWM could not be reset; peaks include start-up"
	}
	var profiling sync.WaitGroup
	if cfg.profile != "" {
		// A CPU profile that covers the whole transfer.
		profiling.Go(func() {
			file := filepath.Join(cfg.profile, name+".cpu.pprof")
			if err := c.saveProfile("/debug/pprof/profile?seconds=12", file, time.Minute); err != nil {
				logf("profile: %v", err)
			}
		})
		time.Sleep(100 * time.Millisecond)
	}
	defer profiling.Wait()
	start := time.Now()
	resp, err := post(body)
	if err != nil {
		return o, note, err
	}
	defer resp.Body.Close()
	// Count the bytes and look for the start of the response without
	// keeping the result.
	marker := []byte(`{"jsonrpc":"2.0","id":7,"result"`)
	buf := make([]byte, 64<<10)
	var carry []byte
	found := false
	for {
		n, err := resp.Body.Read(buf)
		o.received += int64(n)
		if !found && n > 0 {
			window := append(carry, buf[:n]...)
			found = bytes.Contains(window, marker)
			carry = append(carry[:0], window[max(0, len(window)-len(marker)):]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return o, note, err
		}
	}
	o.elapsed = time.Since(start)
	after, err := sampleProc(c.pid())
	if err != nil {
		return o, note, err
	}
	o.idle, o.peak = idle.rss, after.hwm-idle.rss
	if !found || o.received < int64(size) {
		return o, note, fmt.Errorf("%s: got %d bytes, response found: %v", resp.Status, o.received, found)
	}
	return o, note, nil
}
