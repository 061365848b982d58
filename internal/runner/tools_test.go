package runner

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTimeoutFor(t *testing.T) {
	r := &Runner{cfg: Config{Timeout: time.Minute}}
	for _, tt := range []struct {
		in   float64
		want time.Duration
		err  bool
	}{
		{0, time.Minute, false},
		{1.5, 1500 * time.Millisecond, false},
		{120, time.Minute, false}, // never more than the server's limit
		{-1, 0, true},
	} {
		got, err := r.timeoutFor(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("timeoutFor(%v) = %v, %v", tt.in, got, err)
		}
	}
}

func TestFormatResult(t *testing.T) {
	o := outcome{
		status: statusTimeout, ran: true, exit: "signal: terminated", exitCode: -1,
		duration: 1500 * time.Millisecond, reason: "the run reached its time limit of 1s",
		log: logText{Text: ". sleep 9000\n", Size: 13},
	}
	until := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, out := formatResult(o, "/w/x.log", "/d/x.do", until)
	txt := text(res)
	if !res.IsError || out.Status != statusTimeout || out.DurationSeconds != 1.5 || out.LogPath != "/w/x.log" ||
		out.LogRemoved || out.LogKeptUntil != "2026-01-02T03:04:05Z" {
		t.Errorf("result %+v, %+v", res, out)
	}
	for _, want := range []string{"Timed out: the run reached its time limit of 1s", "exit status: signal: terminated",
		"duration: 1.5s", "log: /w/x.log (kept until 2026-01-02T03:04:05Z)\n", "\n. sleep 9000\n"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}

	o = outcome{status: statusFailed, ran: true, exit: "exit status 1", reason: "Stata wrote no log at /w/x.log (exit status 1)",
		logErr: errors.New("missing"), output: "license not found"}
	res, out = formatResult(o, "/w/x.log", "/d/x.do", time.Time{})
	if txt := text(res); !res.IsError || !out.LogRemoved || out.LogKeptUntil != "" || !strings.Contains(txt, "removed now") || !strings.Contains(txt, "Stata failed: Stata wrote no log") ||
		!strings.Contains(txt, "(no log)") || !strings.Contains(txt, "license not found") {
		t.Errorf("failed result:\n%s", txt)
	}
}

func TestIsHealthRequest(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/json":                    true,
		"application/json; charset=utf-8":     true,
		"text/html, application/json;q=0.9":   true,
		"text/event-stream":                   false,
		"application/json, text/event-stream": false,
		"":                                    false,
		"*/*":                                 false,
	} {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if got := isHealthRequest(req); got != want {
			t.Errorf("Accept %q: %v, want %v", accept, got, want)
		}
	}
}
