package caddymodule

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestStataRunnerUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  StataRunner
	}{
		{
			name:  "bare directive",
			input: `stata_runner`,
		},
		{
			name: "empty block",
			input: `stata_runner {
}`,
		},
		{
			name: "stata",
			input: `stata_runner {
	stata /usr/local/stata18/stata-mp
}`,
			want: StataRunner{Stata: "/usr/local/stata18/stata-mp"},
		},
		{
			name: "stata quoted path with a space",
			input: `stata_runner {
	stata "/Applications/Stata 18/StataMP.app/Contents/MacOS/stata-mp"
}`,
			want: StataRunner{Stata: "/Applications/Stata 18/StataMP.app/Contents/MacOS/stata-mp"},
		},
		{
			name: "stata relative",
			input: `stata_runner {
	stata bin/stata-standin
}`,
			want: StataRunner{Stata: "bin/stata-standin"},
		},
		{
			name: "workers",
			input: `stata_runner {
	workers 4
}`,
			want: StataRunner{Workers: 4},
		},
		{
			name: "queue 0 lets nobody wait",
			input: `stata_runner {
	queue 0
}`,
			want: StataRunner{Queue: intp(0)},
		},
		{
			name: "queue",
			input: `stata_runner {
	queue 32
}`,
			want: StataRunner{Queue: intp(32)},
		},
		{
			name: "timeout",
			input: `stata_runner {
	timeout 90m
}`,
			want: StataRunner{Timeout: caddy.Duration(90 * time.Minute)},
		},
		{
			name: "timeout in days",
			input: `stata_runner {
	timeout 1d
}`,
			want: StataRunner{Timeout: caddy.Duration(24 * time.Hour)},
		},
		{
			name: "work_dir",
			input: `stata_runner {
	work_dir /var/lib/stata-mcp
}`,
			want: StataRunner{WorkDir: "/var/lib/stata-mcp"},
		},
		{
			name: "max_output in MiB",
			input: `stata_runner {
	max_output 2MiB
}`,
			want: StataRunner{MaxOutput: 2 << 20},
		},
		{
			name: "max_output in KB is decimal",
			input: `stata_runner {
	max_output 512KB
}`,
			want: StataRunner{MaxOutput: 512000},
		},
		{
			name: "max_output in plain bytes",
			input: `stata_runner {
	max_output 65536
}`,
			want: StataRunner{MaxOutput: 65536},
		},
		{
			name: "sessions",
			input: `stata_runner {
	sessions 2
	session_idle 15m
}`,
			want: StataRunner{Sessions: 2, SessionIdle: durp(15 * time.Minute)},
		},
		{
			name: "session_idle 0 keeps idle sessions",
			input: `stata_runner {
	session_idle 0
}`,
			want: StataRunner{SessionIdle: durp(0)},
		},
		{
			name: "graphs off",
			input: `stata_runner {
	graphs off
}`,
			want: StataRunner{Graphs: boolp(false)},
		},
		{
			name: "graphs on with a limit",
			input: `stata_runner {
	graphs on
	max_graphs 3
}`,
			want: StataRunner{Graphs: boolp(true), MaxGraphs: 3},
		},
		{
			name: "everything",
			input: `stata_runner {
	stata /opt/stata/stata-se
	workers 2
	queue 0
	timeout 2h
	work_dir /tmp/stata
	max_output 4MiB
}`,
			want: StataRunner{
				Stata:     "/opt/stata/stata-se",
				Workers:   2,
				Queue:     intp(0),
				Timeout:   caddy.Duration(2 * time.Hour),
				WorkDir:   "/tmp/stata",
				MaxOutput: 4 << 20,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got StataRunner
			if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", dumpJSON(t, &got), dumpJSON(t, &tt.want))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestStataRunnerUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
		line  string
	}{
		{
			name:  "argument on the directive line",
			input: `stata_runner /mcp`,
			want:  []string{"wrong argument count"},
			line:  "Testfile:1",
		},
		{
			name: "argument on the directive line before a block",
			input: `stata_runner foo {
	workers 1
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:1",
		},
		{
			name: "unknown subdirective",
			input: `stata_runner {
	workers 1
	bogus x
}`,
			want: []string{"unrecognized subdirective", "'bogus'"},
			line: "Testfile:3",
		},
		{
			name: "sessions not a number",
			input: `stata_runner {
	sessions many
}`,
			want: []string{"sessions", "positive whole number", "'many'"},
			line: "Testfile:2",
		},
		{
			name: "sessions zero",
			input: `stata_runner {
	sessions 0
}`,
			want: []string{"sessions", "positive whole number"},
			line: "Testfile:2",
		},
		{
			name: "max_graphs negative",
			input: `stata_runner {
	max_graphs -1
}`,
			want: []string{"max_graphs", "positive whole number"},
			line: "Testfile:2",
		},
		{
			name: "session_idle negative",
			input: `stata_runner {
	session_idle -5m
}`,
			want: []string{"session_idle", "must not be negative"},
			line: "Testfile:2",
		},
		{
			name: "graphs neither on nor off",
			input: `stata_runner {
	graphs yes
}`,
			want: []string{"graphs must be 'on' or 'off'", "'yes'"},
			line: "Testfile:2",
		},
		{
			name: "graphs without an argument",
			input: `stata_runner {
	graphs
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		{
			name: "unknown subdirective without arguments",
			input: `stata_runner {
	workers 1
	timeout 1h
	verbose
}`,
			want: []string{"unrecognized subdirective", "'verbose'"},
			line: "Testfile:4",
		},
		{
			name: "misspelt subdirective with two arguments",
			input: `stata_runner {
	worker 1 2
}`,
			want: []string{"unrecognized subdirective", "'worker'"},
			line: "Testfile:2",
		},
		{
			name: "fractional number of bytes",
			input: `stata_runner {
	max_output 1.5
}`,
			want: []string{"max_output", "whole"},
			line: "Testfile:2",
		},
		// stata
		{
			name: "stata missing",
			input: `stata_runner {
	stata
}`,
			want: []string{"wrong argument count", "'stata'"},
			line: "Testfile:2",
		},
		{
			name: "stata path with an unquoted space",
			input: `stata_runner {
	stata /Applications/Stata 18/stata-mp
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// workers
		{
			name: "workers 0",
			input: `stata_runner {
	workers 0
}`,
			want: []string{"workers: need a positive whole number, not '0'"},
			line: "Testfile:2",
		},
		{
			name: "workers -1",
			input: `stata_runner {
	workers -1
}`,
			want: []string{"workers: need a positive whole number, not '-1'"},
			line: "Testfile:2",
		},
		{
			name: "workers abc",
			input: `stata_runner {
	workers abc
}`,
			want: []string{"workers: need a positive whole number, not 'abc'"},
			line: "Testfile:2",
		},
		{
			name: "workers fraction",
			input: `stata_runner {
	workers 1.5
}`,
			want: []string{"workers: need a positive whole number, not '1.5'"},
			line: "Testfile:2",
		},
		{
			name: "workers missing",
			input: `stata_runner {
	workers
}`,
			want: []string{"wrong argument count", "'workers'"},
			line: "Testfile:2",
		},
		{
			name: "workers extra",
			input: `stata_runner {
	workers 1 2
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// queue
		{
			name: "queue -1",
			input: `stata_runner {
	queue -1
}`,
			want: []string{"queue: need a whole number, 0 or more, not '-1'"},
			line: "Testfile:2",
		},
		{
			name: "queue abc",
			input: `stata_runner {
	queue abc
}`,
			want: []string{"queue: need a whole number, 0 or more, not 'abc'"},
			line: "Testfile:2",
		},
		{
			name: "queue missing",
			input: `stata_runner {
	queue
}`,
			want: []string{"wrong argument count", "'queue'"},
			line: "Testfile:2",
		},
		{
			name: "queue extra",
			input: `stata_runner {
	queue 0 1
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// timeout
		{
			name: "timeout 0",
			input: `stata_runner {
	timeout 0
}`,
			want: []string{"timeout: duration must be positive, not '0'"},
			line: "Testfile:2",
		},
		{
			name: "timeout negative",
			input: `stata_runner {
	timeout -1h
}`,
			want: []string{"timeout: duration must be positive, not '-1h'"},
			line: "Testfile:2",
		},
		{
			name: "timeout not a duration",
			input: `stata_runner {
	timeout soon
}`,
			want: []string{"timeout: invalid duration 'soon'"},
			line: "Testfile:2",
		},
		{
			name: "timeout without unit",
			input: `stata_runner {
	timeout 60
}`,
			want: []string{"timeout: invalid duration '60'"},
			line: "Testfile:2",
		},
		{
			name: "timeout missing",
			input: `stata_runner {
	timeout
}`,
			want: []string{"wrong argument count", "'timeout'"},
			line: "Testfile:2",
		},
		{
			name: "timeout extra",
			input: `stata_runner {
	timeout 1h 2h
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// work_dir
		{
			name: "work_dir missing",
			input: `stata_runner {
	work_dir
}`,
			want: []string{"wrong argument count", "'work_dir'"},
			line: "Testfile:2",
		},
		{
			name: "work_dir extra",
			input: `stata_runner {
	work_dir /a /b
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// keep_logs
		{
			name: "keep_logs not a duration",
			input: `stata_runner {
	keep_logs soon
}`,
			want: []string{"keep_logs", "invalid duration"},
			line: "Testfile:2",
		},
		{
			name: "keep_logs negative",
			input: `stata_runner {
	keep_logs -1m
}`,
			want: []string{"keep_logs", "must not be negative"},
			line: "Testfile:2",
		},
		{
			name: "keep_logs missing",
			input: `stata_runner {
	keep_logs
}`,
			want: []string{"wrong argument count", "'keep_logs'"},
			line: "Testfile:2",
		},
		// allowed_dirs
		{
			name: "allowed_dirs missing",
			input: `stata_runner {
	allowed_dirs
}`,
			want: []string{"wrong argument count", "'allowed_dirs'"},
			line: "Testfile:2",
		},
		{
			name: "allowed_dirs with a block",
			input: `stata_runner {
	allowed_dirs /a {
		x
	}
}`,
			want: []string{"unrecognized subdirective '{'"},
			line: "Testfile:2",
		},
		// max_output
		{
			name: "max_output not a size",
			input: `stata_runner {
	max_output lots
}`,
			want: []string{"max_output: invalid size 'lots'"},
			line: "Testfile:2",
		},
		{
			name: "max_output 0",
			input: `stata_runner {
	max_output 0
}`,
			want: []string{"max_output: invalid size '0'"},
			line: "Testfile:2",
		},
		{
			name: "max_output negative",
			input: `stata_runner {
	max_output -1
}`,
			want: []string{"max_output: invalid size '-1'"},
			line: "Testfile:2",
		},
		{
			name: "max_output over 1TiB",
			input: `stata_runner {
	max_output 2TiB
}`,
			want: []string{"max_output: invalid size '2TiB'"},
			line: "Testfile:2",
		},
		{
			name: "max_output missing",
			input: `stata_runner {
	max_output
}`,
			want: []string{"wrong argument count", "'max_output'"},
			line: "Testfile:2",
		},
		{
			name: "max_output extra",
			input: `stata_runner {
	max_output 1 MiB
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		{
			name: "error on a later line after valid ones",
			input: `stata_runner {
	stata /usr/bin/stata
	workers 1
	queue 0
	timeout 1h
	work_dir /tmp
	max_output nope
}`,
			want: []string{"max_output", "'nope'"},
			line: "Testfile:7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StataRunner
			err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			wantErrAt(t, err, append([]string{tt.line}, tt.want...)...)
		})
	}
}

// TestStataRunnerCaddyfileRepeated gives each subdirective twice: the second
// line is an error that names the subdirective and the second line, whether
// or not the two values agree.
func TestStataRunnerCaddyfileRepeated(t *testing.T) {
	for _, sub := range []struct{ name, first, second string }{
		{"stata", "/usr/bin/stata-mp", "/usr/bin/stata-se"},
		{"workers", "2", "3"},
		{"queue", "0", "5"},
		{"timeout", "1h", "1h"},
		{"work_dir", "/tmp/a", "/tmp/b"},
		{"keep_logs", "1m", "2m"},
		{"allowed_dirs", "/srv/a /srv/b", "/srv/c"},
		{"max_output", "1MiB", "2MiB"},
	} {
		t.Run(sub.name, func(t *testing.T) {
			other := "timeout 1m"
			if sub.name == "timeout" {
				other = "workers 1"
			}
			input := "stata_runner {\n" +
				"\t" + sub.name + " " + sub.first + "\n" +
				"\t" + other + "\n" +
				"\t" + sub.name + " " + sub.second + "\n" +
				"}"
			var s StataRunner
			err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
			wantErrAt(t, err, "subdirective '"+sub.name+"' given twice", "Testfile:4")
		})
	}
}

// TestStataRunnerDirective checks the function registered for the directive.
func TestStataRunnerDirective(t *testing.T) {
	h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(`stata_runner {
	queue 0
	workers 2
}`)}
	mh, err := parseStataRunner(h)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := mh.(*StataRunner)
	if !ok {
		t.Fatalf("parseStataRunner gave %T, want *StataRunner", mh)
	}
	if s.Queue == nil || *s.Queue != 0 || s.Workers != 2 {
		t.Errorf("got %s", dumpJSON(t, s))
	}

	h = httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(`stata_runner {
	workers none
}`)}
	if _, err := parseStataRunner(h); err == nil {
		t.Error("parseStataRunner: no error for bad workers")
	}
}

func TestStataRunnerModule(t *testing.T) {
	info, err := caddy.GetModule("http.handlers.stata_runner")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(*StataRunner); !ok {
		t.Errorf("New gives %T, want *StataRunner", info.New())
	}
}

// TestStataRunnerJSON checks the JSON config as Caddy loads it: queue 0 given
// explicitly is kept apart from an absent queue.
func TestStataRunnerJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		want StataRunner
	}{
		{name: "empty", json: `{}`},
		{name: "queue 0", json: `{"queue":0}`, want: StataRunner{Queue: intp(0)}},
		{name: "queue null is absent", json: `{"queue":null}`},
		{name: "workers 0 is the default", json: `{"workers":0}`},
		{name: "timeout as a string", json: `{"timeout":"1d"}`, want: StataRunner{Timeout: caddy.Duration(24 * time.Hour)}},
		{
			name: "everything",
			json: `{"stata":"/s","workers":3,"queue":4,"timeout":5000000000,"work_dir":"/w","keep_logs":"1m",` +
				`"allowed_dirs":["/a","/b"],"max_output":6}`,
			want: StataRunner{
				Stata: "/s", Workers: 3, Queue: intp(4), Timeout: caddy.Duration(5 * time.Second),
				WorkDir: "/w", KeepLogs: caddy.Duration(time.Minute), AllowedDirs: []string{"/a", "/b"}, MaxOutput: 6,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StataRunner
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &s); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Errorf("got  %s\nwant %s", dumpJSON(t, &s), dumpJSON(t, &tt.want))
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestStataRunnerValidateJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{name: "negative workers", json: `{"workers":-1}`, want: "workers"},
		{name: "negative queue", json: `{"queue":-1}`, want: "queue"},
		{name: "negative timeout", json: `{"timeout":"-1s"}`, want: "timeout"},
		{name: "negative max_output", json: `{"max_output":-1}`, want: "max_output"},
		{name: "negative keep_logs", json: `{"keep_logs":"-1s"}`, want: "keep_logs"},
		{name: "empty allowed dir", json: `{"allowed_dirs":["/a",""]}`, want: "allowed_dirs"},
		{name: "negative sessions", json: `{"sessions":-1}`, want: "sessions"},
		{name: "negative session_idle", json: `{"session_idle":"-1s"}`, want: "session_idle"},
		{name: "negative max_graphs", json: `{"max_graphs":-2}`, want: "max_graphs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StataRunner
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &s); err != nil {
				t.Fatal(err)
			}
			wantErrAt(t, s.Validate(), "stata_runner", tt.want)
		})
	}
}

// TestStataRunnerCaddyfileToJSON checks that the Caddyfile's settings survive
// the JSON config Caddy loads; above all that queue 0 stays 0.
func TestStataRunnerCaddyfileToJSON(t *testing.T) {
	tests := []struct {
		input    string
		wantJSON string
	}{
		{input: `stata_runner`, wantJSON: `{}`},
		{input: "stata_runner {\n\tqueue 0\n}", wantJSON: `{"queue":0}`},
		{
			input: "stata_runner {\n\tstata /s\n\tworkers 2\n\tqueue 3\n\ttimeout 1m\n\twork_dir /w\n" +
				"\tkeep_logs 1m\n\tallowed_dirs /a \"/b c\"\n\tmax_output 1KiB\n}",
			wantJSON: `{"stata":"/s","workers":2,"queue":3,"timeout":60000000000,` +
				`"work_dir":"/w","keep_logs":60000000000,"allowed_dirs":["/a","/b c"],"max_output":1024}`,
		},
	}
	for _, tt := range tests {
		var s StataRunner
		if err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
			t.Fatalf("%q: %v", tt.input, err)
		}
		raw, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != tt.wantJSON {
			t.Errorf("%q: JSON %s, want %s", tt.input, raw, tt.wantJSON)
		}
		var loaded StataRunner
		if err := caddy.StrictUnmarshalJSON(raw, &loaded); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(loaded, s) {
			t.Errorf("%q: reloaded %s, want %s", tt.input, dumpJSON(t, &loaded), raw)
		}
	}
}
