package rest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readStream posts body to url and returns the stream's event names with
// their data, and the number of comment lines.
func readStream(t *testing.T, url, body string) (names []string, data []map[string]any, comments int) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("headers %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	name := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
			comments++
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var d map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d); err != nil {
				t.Fatalf("data of %s: %v", name, err)
			}
			names, data = append(names, name), append(data, d)
		}
	}
	return names, data, comments
}

func TestStreamInventsProgressWhileUpstreamIsQuiet(t *testing.T) {
	u := newTestUpstream(t)
	_, url := newTestGateway(t, u, Config{Interval: 50 * time.Millisecond})
	names, data, comments := readStream(t, url+"/tools/wait/stream", `{"arguments":{"ms":600}}`)
	n := len(names)
	if n < 5 || names[n-2] != "result" || names[n-1] != "done" {
		t.Fatalf("events %v", names)
	}
	last := 0.0
	for i, name := range names[:n-2] {
		if name != "progress" {
			t.Fatalf("event %d is %s", i, name)
		}
		p := data[i]["progress"].(float64)
		if p <= last || !strings.HasPrefix(data[i]["message"].(string), "wait: running for ") {
			t.Fatalf("progress %v after %v", data[i], last)
		}
		last = p
	}
	if comments < 3 {
		t.Fatalf("%d comments", comments)
	}
}

func TestStreamRelaysUpstreamProgress(t *testing.T) {
	u := newTestUpstream(t)
	_, url := newTestGateway(t, u, Config{Interval: time.Hour})
	names, data, _ := readStream(t, url+"/tools/wait/stream", `{"arguments":{"ms":300,"steps":3}}`)
	want := "progress progress progress result done"
	if strings.Join(names, " ") != want {
		t.Fatalf("events %v, want %s", names, want)
	}
	for i := 0; i < 3; i++ {
		if data[i]["progress"] != float64(i+1) || data[i]["total"] != 3.0 {
			t.Fatalf("progress %d: %v", i, data[i])
		}
	}
	if data[3]["isError"] != false {
		t.Fatalf("result %v", data[3])
	}
}

func TestKeeper(t *testing.T) {
	start := time.Now()
	k := &keeper{tool: "t", start: start}
	if p := k.tick(start.Add(time.Second)); p == nil || p.Progress != 1 || p.Message != "t: running for 1s" {
		t.Fatalf("first tick %+v", p)
	}
	// The upstream's first value would not increase: it is shifted.
	if p := k.upstream(progressEvent{Progress: 1, Message: "u"}); p.Progress != 2 {
		t.Fatalf("upstream progress %+v", p)
	}
	if p := k.tick(start.Add(2 * time.Second)); p != nil {
		t.Fatalf("a tick after upstream progress invented %+v", p)
	}
	if p := k.tick(start.Add(3 * time.Second)); p == nil || p.Progress != 3 {
		t.Fatalf("a quiet tick %+v", p)
	}
}
