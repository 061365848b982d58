package main

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// quietShare is the most of the machine's CPU that other processes may use
// during a pair of pass-through rounds for its ratio to count.
const quietShare = 0.05

// mcpHeaders are the headers an MCP client sends on a POST.
func mcpHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("MCP-Protocol-Version", "2025-06-18")
}

// roundResult is the outcome of one round of load.
type roundResult struct {
	rps  float64
	lat  []time.Duration
	errs int
	err  string // the first error
}

// loadRound sends body to url from conc workers, each on its own kept-alive
// connection, for d, and counts the answers that are a JSON-RPC result.
func loadRound(client *http.Client, url string, body []byte, conc int, d time.Duration) roundResult {
	var (
		mu  sync.Mutex
		res roundResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conc {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			errs, first := 0, ""
			var buf bytes.Buffer
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				mcpHeaders(req.Header)
				t := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(`"result"`))) {
						err = fmt.Errorf("%s: %.200s", resp.Status, buf.Bytes())
					}
				}
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			if res.err == "" {
				res.err = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.rps = float64(len(res.lat)) / time.Since(start).Seconds()
	return res
}

// passThrough measures small MCP POSTs through mcp_keepalive +
// reverse_proxy (site A) against reverse_proxy alone (site B), both in one
// caddy-stata process before the same upstream, in alternating rounds.
func passThrough(cfg *config, up *upstreamProc) ([]row, []string, error) {
	a, err := newSite(up.addr, "\tmcp_keepalive\n\treverse_proxy {upstream}")
	if err != nil {
		return nil, nil, err
	}
	b, err := newSite(up.addr, "\treverse_proxy {upstream}")
	if err != nil {
		return nil, nil, err
	}
	c, err := startCaddy(cfg.binary, a, b)
	if err != nil {
		return nil, nil, err
	}
	defer c.stop()

	// One transport per site, so that each keeps its own connections warm
	// across rounds. No compression: MCP clients send none either.
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: cfg.conc, MaxConnsPerHost: cfg.conc,
			DisableCompression: true, ForceAttemptHTTP2: false,
		}, Timeout: 10 * time.Second}
	}
	clientA, clientB := newClient(), newClient()
	defer clientA.CloseIdleConnections()
	defer clientB.CloseIdleConnections()

	messages := []struct {
		name, body string
		target     float64 // the least throughput ratio to reverse_proxy alone
	}{
		{"tools/list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 0.98},
		{"tools/call (fast)", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fast","arguments":{}}}`, 0.97},
	}
	var rows []row
	var notes []string
	before, _ := sampleProc(c.pid())
	for _, m := range messages {
		body := []byte(m.body)
		warm := min(cfg.round, time.Second)
		loadRound(clientA, a.url()+"/mcp", body, cfg.conc, warm)
		loadRound(clientB, b.url()+"/mcp", body, cfg.conc, warm)
		var rpsA, rpsB []float64
		var latA, latB []time.Duration
		var errsA, errsB int
		var firstErr string
		var cpuA, cpuB []float64
		// cpuPerRequest runs one round and returns it with the proxy's CPU
		// time per answered request, in microseconds.
		// It also returns the share of the machine other processes used.
		measured := func(client *http.Client, url string) (roundResult, float64, float64) {
			l0 := readLoad(c.pid())
			s0, _ := sampleProc(c.pid())
			r := loadRound(client, url, body, cfg.conc, cfg.round)
			s1, _ := sampleProc(c.pid())
			return r, float64(s1.cpu-s0.cpu) / float64(time.Microsecond) / float64(max(1, len(r.lat))), foreign(l0, readLoad(c.pid()))
		}
		var ratios, quiet []float64
		for i := range cfg.rounds {
			// Alternate A and B, swapping the order in every other pair
			// (ABBA), so that a machine that drifts favours neither.
			var ra, rb roundResult
			var ca, cb, fa, fb float64
			if i%2 == 0 {
				ra, ca, fa = measured(clientA, a.url()+"/mcp")
				rb, cb, fb = measured(clientB, b.url()+"/mcp")
			} else {
				rb, cb, fb = measured(clientB, b.url()+"/mcp")
				ra, ca, fa = measured(clientA, a.url()+"/mcp")
			}
			cpuA, cpuB = append(cpuA, ca), append(cpuB, cb)
			ratio := ra.rps / rb.rps
			ratios = append(ratios, ratio)
			if max(fa, fb) <= quietShare {
				quiet = append(quiet, ratio)
			}
			logf("%s pair %d: keepalive %.0f req/s (%.1f µs CPU each), reverse_proxy alone %.0f req/s (%.1f µs); other load %.0f%%/%.0f%% of the machine",
				m.name, i+1, ra.rps, ca, rb.rps, cb, 100*fa, 100*fb)
			rpsA, rpsB = append(rpsA, ra.rps), append(rpsB, rb.rps)
			latA, latB = append(latA, ra.lat...), append(latB, rb.lat...)
			errsA, errsB = errsA+ra.errs, errsB+rb.errs
			firstErr = or(or(firstErr, ra.err), rb.err)
		}
		if cfg.profile != "" {
			// Profile caddy-stata under each configuration's load, outside the
			// measured rounds.
			for _, x := range []struct {
				name   string
				client *http.Client
				url    string
			}{{"keepalive", clientA, a.url()}, {"reverse_proxy", clientB, b.url()}} {
				file := filepath.Join(cfg.profile, fmt.Sprintf("passthrough-%s-%s.cpu.pprof",
					fileName(m.name), x.name))
				// Count the requests answered while the profile runs, so that
				// its samples can be read per request.
				var answered atomic.Int64
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						select {
						case <-stop:
							return
						default:
						}
						r := loadRound(x.client, x.url+"/mcp", body, cfg.conc, 100*time.Millisecond)
						answered.Add(int64(len(r.lat)))
					}
				}()
				time.Sleep(500 * time.Millisecond)
				n0 := answered.Load()
				s0, _ := sampleProc(c.pid())
				if err := c.saveProfile("/debug/pprof/profile?seconds=5", file, time.Minute); err != nil {
					logf("profile: %v", err)
				}
				s1, _ := sampleProc(c.pid())
				n := answered.Load() - n0
				close(stop)
				<-done
				logf("profile %s: about %d requests answered, %.1f µs of proxy CPU each", file, n,
					float64(s1.cpu-s0.cpu)/float64(time.Microsecond)/float64(max(1, n)))
				notes = append(notes, fmt.Sprintf("profile %s: about %d requests answered while it ran", file, n))
			}
		}
		slices.Sort(latA)
		slices.Sort(latB)
		medA, medB := median(rpsA), median(rpsB)
		// The ratio is taken over the pairs in which no other process used
		// more than quietShare of the machine, when there are at least 3.
		ratioOver := fmt.Sprintf("%d quiet pairs of %d", len(quiet), len(ratios))
		if len(quiet) < 3 {
			ratioOver = fmt.Sprintf("all %d pairs: fewer than 3 were quiet", len(ratios))
			quiet = ratios
		}
		ratio := median(slices.Clone(quiet))
		sec := "pass-through " + m.name
		rows = append(rows,
			row{sec, fmt.Sprintf("req/s, median of %d rounds of %s, %d connections", cfg.rounds, cfg.round, cfg.conc),
				fmt.Sprintf("%.0f", medA), fmt.Sprintf("%.0f", medB), "", ""},
			row{sec, "throughput ratio, median of the pairs' ratios", fmt.Sprintf("%.3f (%s)", ratio, ratioOver),
				fmt.Sprintf("pairs %.2f-%.2f", slices.Min(ratios), slices.Max(ratios)), fmt.Sprintf(">= %.2f", m.target), verdict(ratio >= m.target)},
			row{sec, "proxy CPU per request, median of rounds", fmt.Sprintf("%.1f µs", median(cpuA)), fmt.Sprintf("%.1f µs", median(cpuB)), "", ""},
			row{sec, "latency p50", ms(percentile(latA, 50)), ms(percentile(latB, 50)), "", ""},
			row{sec, "latency p99", ms(percentile(latA, 99)), ms(percentile(latB, 99)), "", ""},
			row{sec, "errors", fmt.Sprint(errsA), fmt.Sprint(errsB), "0", verdict(errsA == 0 && errsB == 0)},
		)
		if firstErr != "" {
			notes = append(notes, fmt.Sprintf("pass-through %s: first error: %s", m.name, firstErr))
		}
	}
	after, _ := sampleProc(c.pid())
	logf("pass-through: caddy-stata used %s of CPU", (after.cpu - before.cpu).Round(10*time.Millisecond))
	return rows, notes, nil
}
