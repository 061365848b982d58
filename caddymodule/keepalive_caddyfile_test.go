package caddymodule

import (
	"github.com/caddy-stata/caddy-stata/internal/keepalive"

	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// durp returns a pointer to the caddy.Duration d.
func durp(d time.Duration) *caddy.Duration {
	cd := caddy.Duration(d)
	return &cd
}

// boolp returns a pointer to b.
func boolp(b bool) *bool { return &b }

// intp returns a pointer to n.
func intp(n int) *int { return &n }

// wantErrAt checks that err is not nil and that its message contains every
// one of parts.
func wantErrAt(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestKeepAliveUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  KeepAlive
	}{
		{
			name:  "bare directive",
			input: `mcp_keepalive`,
		},
		{
			name: "empty block",
			input: `mcp_keepalive {
}`,
		},
		{
			name: "resumption settings",
			input: `mcp_keepalive {
	resume 10m
	poll_after 30s
	retry 2s
	store_limit 64MiB
}`,
			want: KeepAlive{Resume: durationPtr(10 * time.Minute), PollAfter: caddy.Duration(30 * time.Second),
				Retry: caddy.Duration(2 * time.Second), StoreLimit: 64 << 20},
		},
		{
			name: "spill settings",
			input: `mcp_keepalive {
	spill_dir /var/cache/caddy-stata
	spill_after 256KiB
	spill_limit 1GiB
}`,
			want: KeepAlive{SpillDir: "/var/cache/caddy-stata", SpillAfter: 256 << 10, SpillLimit: 1 << 30},
		},
		{
			name: "spill_dir quoted with a space, relative",
			input: `mcp_keepalive {
	spill_dir "spill files"
}`,
			want: KeepAlive{SpillDir: "spill files"},
		},
		{
			name: "spill sizes in plain and decimal bytes",
			input: `mcp_keepalive {
	spill_after 4096
	spill_limit 2GB
}`,
			want: KeepAlive{SpillAfter: 4096, SpillLimit: 2000000000},
		},
		{
			name: "spill_limit at the 1TiB ceiling",
			input: `mcp_keepalive {
	spill_limit 1TiB
}`,
			want: KeepAlive{SpillLimit: 1 << 40},
		},
		{
			name: "resume off",
			input: `mcp_keepalive {
	resume off
	poll_after 0
}`,
			want: KeepAlive{Resume: durationPtr(0)},
		},
		{
			name: "tools with several patterns",
			input: `mcp_keepalive {
	tools stata_* run_? exact "with space"
}`,
			want: KeepAlive{Tools: []string{"stata_*", "run_?", "exact", "with space"}},
		},
		{
			name: "tools repeated append",
			input: `mcp_keepalive {
	tools stata_*
	tools other_a other_b
	tools stata_*
}`,
			want: KeepAlive{Tools: []string{"stata_*", "other_a", "other_b", "stata_*"}},
		},
		{
			name: "allowed hosts and origins",
			input: `mcp_keepalive {
	allowed_hosts mcp.example.com *.internal [::1]:8080
	allowed_origins https://app.example.com null
}`,
			want: KeepAlive{AllowedHosts: []string{"mcp.example.com", "*.internal", "[::1]:8080"},
				AllowedOrigins: []string{"https://app.example.com", "null"}},
		},
		{
			name: "allowed hosts and origins repeated append",
			input: `mcp_keepalive {
	allowed_hosts localhost
	allowed_origins http://localhost:6274
	allowed_hosts mcp.example.com:443
	allowed_origins https://*.example.com
}`,
			want: KeepAlive{AllowedHosts: []string{"localhost", "mcp.example.com:443"},
				AllowedOrigins: []string{"http://localhost:6274", "https://*.example.com"}},
		},
		{
			name: "allowed_hosts * turns the check off",
			input: `mcp_keepalive {
	allowed_hosts *
}`,
			want: KeepAlive{AllowedHosts: []string{"*"}},
		},
		{
			name: "grace 0 switches at once",
			input: `mcp_keepalive {
	grace 0
}`,
			want: KeepAlive{Grace: durp(0)},
		},
		{
			name: "grace 0s",
			input: `mcp_keepalive {
	grace 0s
}`,
			want: KeepAlive{Grace: durp(0)},
		},
		{
			name: "grace in milliseconds",
			input: `mcp_keepalive {
	grace 250ms
}`,
			want: KeepAlive{Grace: durp(250 * time.Millisecond)},
		},
		{
			name: "grace in days",
			input: `mcp_keepalive {
	grace 1d
}`,
			want: KeepAlive{Grace: durp(24 * time.Hour)},
		},
		{
			name: "grace in fractional days and hours",
			input: `mcp_keepalive {
	grace 1.5d2h
}`,
			want: KeepAlive{Grace: durp(38 * time.Hour)},
		},
		{
			name: "interval",
			input: `mcp_keepalive {
	interval 20s
}`,
			want: KeepAlive{Interval: caddy.Duration(20 * time.Second)},
		},
		{
			name: "interval compound",
			input: `mcp_keepalive {
	interval 1m30s
}`,
			want: KeepAlive{Interval: caddy.Duration(90 * time.Second)},
		},
		{
			name: "progress on",
			input: `mcp_keepalive {
	progress on
}`,
			want: KeepAlive{Progress: boolp(true)},
		},
		{
			name: "progress off",
			input: `mcp_keepalive {
	progress off
}`,
			want: KeepAlive{Progress: boolp(false)},
		},
		{
			name: "max_duration in hours",
			input: `mcp_keepalive {
	max_duration 12h
}`,
			want: KeepAlive{MaxDuration: caddy.Duration(12 * time.Hour)},
		},
		{
			name: "max_duration in days",
			input: `mcp_keepalive {
	max_duration 2d
}`,
			want: KeepAlive{MaxDuration: caddy.Duration(48 * time.Hour)},
		},
		{
			name: "max_request_body in MiB",
			input: `mcp_keepalive {
	max_request_body 4MiB
}`,
			want: KeepAlive{MaxRequestBody: 4 << 20},
		},
		{
			name: "max_request_body in KB is decimal",
			input: `mcp_keepalive {
	max_request_body 512KB
}`,
			want: KeepAlive{MaxRequestBody: 512000},
		},
		{
			name: "max_request_body in plain bytes",
			input: `mcp_keepalive {
	max_request_body 1048576
}`,
			want: KeepAlive{MaxRequestBody: 1048576},
		},
		{
			name: "max_request_body at the 1TiB ceiling",
			input: `mcp_keepalive {
	max_request_body 1TiB
}`,
			want: KeepAlive{MaxRequestBody: 1 << 40},
		},
		{
			name: "max_held one",
			input: `mcp_keepalive {
	max_held 1
}`,
			want: KeepAlive{MaxHeld: 1},
		},
		{
			name: "max_held large",
			input: `mcp_keepalive {
	max_held 250000
}`,
			want: KeepAlive{MaxHeld: 250000},
		},
		{
			name: "everything",
			input: `mcp_keepalive {
	tools stata_* other
	grace 2s
	interval 10s
	progress off
	max_duration 1d
	max_request_body 8MiB
	max_held 42
	resume 1h
	poll_after 45s
	retry 3s
	store_limit 128MiB
	spill_dir /srv/spill
	spill_after 2MiB
	spill_limit 8GiB
}`,
			want: KeepAlive{
				Tools:          []string{"stata_*", "other"},
				Grace:          durp(2 * time.Second),
				Interval:       caddy.Duration(10 * time.Second),
				Progress:       boolp(false),
				MaxDuration:    caddy.Duration(24 * time.Hour),
				MaxRequestBody: 8 << 20,
				MaxHeld:        42,
				Resume:         durp(time.Hour),
				PollAfter:      caddy.Duration(45 * time.Second),
				Retry:          caddy.Duration(3 * time.Second),
				StoreLimit:     128 << 20,
				SpillDir:       "/srv/spill",
				SpillAfter:     2 << 20,
				SpillLimit:     8 << 30,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got KeepAlive
			if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", dumpJSON(t, got), dumpJSON(t, tt.want))
			}
			// What the Caddyfile gives must be a valid configuration.
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestKeepAliveUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		// want are substrings of the error; every case also checks the line.
		want []string
		line string
	}{
		{
			name:  "argument on the directive line",
			input: `mcp_keepalive /mcp`,
			want:  []string{"wrong argument count"},
			line:  "Testfile:1",
		},
		{
			name: "argument on the directive line before a block",
			input: `mcp_keepalive foo {
	grace 1s
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:1",
		},
		{
			name: "unknown subdirective",
			input: `mcp_keepalive {
	grace 1s
	bogus 1
}`,
			want: []string{"unrecognized subdirective", "'bogus'"},
			line: "Testfile:3",
		},
		{
			name: "unknown subdirective without arguments",
			input: `mcp_keepalive {
	interval 5s
	tools a
	max_hold
}`,
			want: []string{"unrecognized subdirective", "'max_hold'"},
			line: "Testfile:4",
		},
		{
			name: "unknown subdirective with several arguments",
			input: `mcp_keepalive {
	timeout 1s 2s
}`,
			want: []string{"unrecognized subdirective", "'timeout'"},
			line: "Testfile:2",
		},
		{
			name: "nested block under a subdirective",
			input: `mcp_keepalive {
	grace 1s {
	}
}`,
			line: "Testfile:2",
		},
		{
			name: "resume zero is spelt off",
			input: `mcp_keepalive {
	resume 0
}`,
			want: []string{"resume", "must be positive"},
			line: "Testfile:2",
		},
		{
			name: "retry zero",
			input: `mcp_keepalive {
	retry 0s
}`,
			want: []string{"retry", "must be positive"},
			line: "Testfile:2",
		},
		{
			name: "store_limit without a size",
			input: `mcp_keepalive {
	store_limit
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		{
			name: "negative grace",
			input: `mcp_keepalive {
	grace -1s
}`,
			want: []string{"grace", "must not be negative"},
			line: "Testfile:2",
		},
		{
			name: "fractional number of bytes",
			input: `mcp_keepalive {
	max_request_body 1.5
}`,
			want: []string{"max_request_body", "whole"},
			line: "Testfile:2",
		},
		{
			name: "bad tool pattern",
			input: `mcp_keepalive {
	tools stata_* [
}`,
			want: []string{"tools", "bad pattern '['"},
			line: "Testfile:2",
		},
		// allowed_hosts and allowed_origins
		{
			name: "allowed_hosts without patterns",
			input: `mcp_keepalive {
	allowed_hosts
}`,
			want: []string{"wrong argument count", "'allowed_hosts'"},
			line: "Testfile:2",
		},
		{
			name: "allowed_origins without patterns",
			input: `mcp_keepalive {
	allowed_origins
}`,
			want: []string{"wrong argument count", "'allowed_origins'"},
			line: "Testfile:2",
		},
		{
			name: "bad allowed host glob",
			input: `mcp_keepalive {
	allowed_hosts localhost a[b
}`,
			want: []string{"allowed_hosts", "bad host pattern 'a[b'"},
			line: "Testfile:2",
		},
		{
			name: "bare IPv6 allowed host",
			input: `mcp_keepalive {
	allowed_hosts ::1
}`,
			want: []string{"allowed_hosts", "in brackets"},
			line: "Testfile:2",
		},
		{
			name: "bad allowed origin glob",
			input: `mcp_keepalive {
	allowed_origins https://[a
}`,
			want: []string{"allowed_origins", "bad origin pattern"},
			line: "Testfile:2",
		},
		{
			name: "allowed_hosts * with another host",
			input: `mcp_keepalive {
	allowed_hosts localhost
	allowed_hosts *
}`,
			want: []string{"'*' turns the check off"},
			line: "Testfile:3",
		},
		{
			name: "allowed_hosts * with allowed_origins",
			input: `mcp_keepalive {
	allowed_hosts *
	grace 1s
	allowed_origins https://app.example.com
}`,
			want: []string{"cannot be combined", "allowed_origins"},
			line: "Testfile:4",
		},
		// tools
		{
			name: "tools without patterns",
			input: `mcp_keepalive {
	tools
}`,
			want: []string{"wrong argument count", "'tools'"},
			line: "Testfile:2",
		},
		// grace
		{
			name: "grace missing",
			input: `mcp_keepalive {
	grace
}`,
			want: []string{"wrong argument count", "'grace'"},
			line: "Testfile:2",
		},
		{
			name: "grace extra",
			input: `mcp_keepalive {
	grace 1s 2s
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		{
			name: "grace not a duration",
			input: `mcp_keepalive {
	grace soon
}`,
			want: []string{"grace: invalid duration 'soon'"},
			line: "Testfile:2",
		},
		{
			name: "grace without unit",
			input: `mcp_keepalive {

	grace 1
}`,
			want: []string{"grace: invalid duration '1'"},
			line: "Testfile:3",
		},
		{
			name: "grace negative",
			input: `mcp_keepalive {
	grace -1s
}`,
			want: []string{"grace:", "'-1s'"},
			line: "Testfile:2",
		},
		{
			name: "grace overflows",
			input: `mcp_keepalive {
	grace 1000000d
}`,
			want: []string{"grace: invalid duration '1000000d'"},
			line: "Testfile:2",
		},
		// interval
		{
			name: "interval 0",
			input: `mcp_keepalive {
	interval 0
}`,
			want: []string{"interval: duration must be positive, not '0'"},
			line: "Testfile:2",
		},
		{
			name: "interval 0s",
			input: `mcp_keepalive {
	interval 0s
}`,
			want: []string{"interval: duration must be positive, not '0s'"},
			line: "Testfile:2",
		},
		{
			name: "interval negative",
			input: `mcp_keepalive {
	interval -5s
}`,
			want: []string{"interval: duration must be positive, not '-5s'"},
			line: "Testfile:2",
		},
		{
			name: "interval not a duration",
			input: `mcp_keepalive {
	interval fast
}`,
			want: []string{"interval: invalid duration 'fast'"},
			line: "Testfile:2",
		},
		{
			name: "interval missing",
			input: `mcp_keepalive {
	interval
}`,
			want: []string{"wrong argument count", "'interval'"},
			line: "Testfile:2",
		},
		{
			name: "interval extra",
			input: `mcp_keepalive {
	interval 5s 10s
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// progress
		{
			name: "progress maybe",
			input: `mcp_keepalive {
	progress maybe
}`,
			want: []string{"progress must be 'on' or 'off', not 'maybe'"},
			line: "Testfile:2",
		},
		{
			name: "progress true is not on",
			input: `mcp_keepalive {
	progress true
}`,
			want: []string{"not 'true'"},
			line: "Testfile:2",
		},
		{
			name: "progress missing",
			input: `mcp_keepalive {
	progress
}`,
			want: []string{"wrong argument count", "'progress'"},
			line: "Testfile:2",
		},
		{
			name: "progress extra",
			input: `mcp_keepalive {
	progress on off
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// max_duration
		{
			name: "max_duration 0",
			input: `mcp_keepalive {
	max_duration 0
}`,
			want: []string{"max_duration: duration must be positive, not '0'"},
			line: "Testfile:2",
		},
		{
			name: "max_duration negative",
			input: `mcp_keepalive {
	max_duration -1h
}`,
			want: []string{"max_duration: duration must be positive, not '-1h'"},
			line: "Testfile:2",
		},
		{
			name: "max_duration not a duration",
			input: `mcp_keepalive {
	max_duration forever
}`,
			want: []string{"max_duration: invalid duration 'forever'"},
			line: "Testfile:2",
		},
		{
			name: "max_duration missing",
			input: `mcp_keepalive {
	max_duration
}`,
			want: []string{"wrong argument count", "'max_duration'"},
			line: "Testfile:2",
		},
		{
			name: "max_duration extra",
			input: `mcp_keepalive {
	max_duration 1h 2h
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// max_request_body
		{
			name: "max_request_body not a size",
			input: `mcp_keepalive {
	max_request_body lots
}`,
			want: []string{"max_request_body: invalid size 'lots'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body 0",
			input: `mcp_keepalive {
	max_request_body 0
}`,
			want: []string{"max_request_body: invalid size '0'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body under one byte",
			input: `mcp_keepalive {
	max_request_body 0.5
}`,
			want: []string{"max_request_body: invalid size '0.5'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body negative",
			input: `mcp_keepalive {
	max_request_body -1
}`,
			want: []string{"max_request_body: invalid size '-1'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body unknown unit",
			input: `mcp_keepalive {
	max_request_body 4XB
}`,
			want: []string{"max_request_body: invalid size '4XB'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body over 1TiB",
			input: `mcp_keepalive {
	max_request_body 2TiB
}`,
			want: []string{"max_request_body: invalid size '2TiB'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body missing",
			input: `mcp_keepalive {
	max_request_body
}`,
			want: []string{"wrong argument count", "'max_request_body'"},
			line: "Testfile:2",
		},
		{
			name: "max_request_body extra",
			input: `mcp_keepalive {
	max_request_body 4 MiB
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// max_held
		{
			name: "max_held 0",
			input: `mcp_keepalive {
	max_held 0
}`,
			want: []string{"max_held: need a positive whole number, not '0'"},
			line: "Testfile:2",
		},
		{
			name: "max_held -1",
			input: `mcp_keepalive {
	max_held -1
}`,
			want: []string{"max_held: need a positive whole number, not '-1'"},
			line: "Testfile:2",
		},
		{
			name: "max_held abc",
			input: `mcp_keepalive {
	max_held abc
}`,
			want: []string{"max_held: need a positive whole number, not 'abc'"},
			line: "Testfile:2",
		},
		{
			name: "max_held fraction",
			input: `mcp_keepalive {
	max_held 1.5
}`,
			want: []string{"max_held: need a positive whole number, not '1.5'"},
			line: "Testfile:2",
		},
		{
			name: "max_held missing",
			input: `mcp_keepalive {
	max_held
}`,
			want: []string{"wrong argument count", "'max_held'"},
			line: "Testfile:2",
		},
		{
			name: "max_held extra",
			input: `mcp_keepalive {
	max_held 1 2
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// spill_dir
		{
			name: "spill_dir missing",
			input: `mcp_keepalive {
	spill_dir
}`,
			want: []string{"wrong argument count", "'spill_dir'"},
			line: "Testfile:2",
		},
		{
			name: "spill_dir extra",
			input: `mcp_keepalive {
	spill_dir /var/a /var/b
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		{
			name: "spill_dir empty",
			input: `mcp_keepalive {
	spill_dir ""
}`,
			want: []string{"spill_dir: need a folder, not an empty path"},
			line: "Testfile:2",
		},
		// spill_after
		{
			name: "spill_after not a size",
			input: `mcp_keepalive {
	spill_after plenty
}`,
			want: []string{"spill_after: invalid size 'plenty'"},
			line: "Testfile:2",
		},
		{
			name: "spill_after 0",
			input: `mcp_keepalive {
	spill_after 0
}`,
			want: []string{"spill_after: invalid size '0'"},
			line: "Testfile:2",
		},
		{
			name: "spill_after negative",
			input: `mcp_keepalive {
	spill_after -1MiB
}`,
			want: []string{"spill_after: invalid size '-1MiB'"},
			line: "Testfile:2",
		},
		{
			name: "spill_after fractional bytes",
			input: `mcp_keepalive {
	spill_after 10.5
}`,
			want: []string{"spill_after: invalid size '10.5'", "whole"},
			line: "Testfile:2",
		},
		{
			name: "spill_after missing",
			input: `mcp_keepalive {
	spill_after
}`,
			want: []string{"wrong argument count", "'spill_after'"},
			line: "Testfile:2",
		},
		{
			name: "spill_after extra",
			input: `mcp_keepalive {
	spill_after 1 MiB
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		// spill_limit
		{
			name: "spill_limit not a size",
			input: `mcp_keepalive {
	spill_limit unlimited
}`,
			want: []string{"spill_limit: invalid size 'unlimited'"},
			line: "Testfile:2",
		},
		{
			name: "spill_limit 0",
			input: `mcp_keepalive {
	spill_limit 0GiB
}`,
			want: []string{"spill_limit: invalid size '0GiB'"},
			line: "Testfile:2",
		},
		{
			name: "spill_limit over 1TiB",
			input: `mcp_keepalive {
	spill_limit 2TiB
}`,
			want: []string{"spill_limit: invalid size '2TiB'"},
			line: "Testfile:2",
		},
		{
			name: "spill_limit missing",
			input: `mcp_keepalive {
	spill_limit
}`,
			want: []string{"wrong argument count", "'spill_limit'"},
			line: "Testfile:2",
		},
		{
			name: "spill_limit extra",
			input: `mcp_keepalive {
	spill_limit 4 GiB
}`,
			want: []string{"wrong argument count"},
			line: "Testfile:2",
		},
		{
			name: "error on a later line after valid ones",
			input: `mcp_keepalive {
	tools stata_*
	grace 0
	interval 15s
	progress on
	max_duration 1h
	max_request_body 4MiB
	max_held nope
}`,
			want: []string{"max_held", "'nope'"},
			line: "Testfile:8",
		},
		{
			name: "poll_after after resume off",
			input: `mcp_keepalive {
	resume off
	grace 1s
	poll_after 30s
}`,
			want: []string{"poll_after: needs resume, which is off"},
			line: "Testfile:4",
		},
		{
			name: "resume off after poll_after",
			input: `mcp_keepalive {
	poll_after 30s
	resume off
}`,
			want: []string{"resume off: poll_after needs resume"},
			line: "Testfile:3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k KeepAlive
			err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			wantErrAt(t, err, append([]string{tt.line}, tt.want...)...)
		})
	}
}

// TestKeepAliveCaddyfileRepeated gives each subdirective but tools twice: the
// second line is an error that names the subdirective and the second line,
// whether or not the two values agree.
func TestKeepAliveCaddyfileRepeated(t *testing.T) {
	for _, sub := range []struct{ name, first, second string }{
		{"grace", "5s", "0"},
		{"interval", "10s", "10s"},
		{"progress", "on", "off"},
		{"max_duration", "1h", "2h"},
		{"max_request_body", "1MiB", "2MiB"},
		{"max_held", "5", "5"},
		{"resume", "10m", "off"},
		{"poll_after", "0", "30s"},
		{"retry", "1s", "2s"},
		{"store_limit", "64MiB", "64MiB"},
		{"spill_dir", "/var/a", "/var/b"},
		{"spill_after", "1MiB", "1MiB"},
		{"spill_limit", "4GiB", "8GiB"},
	} {
		t.Run(sub.name, func(t *testing.T) {
			input := "mcp_keepalive {\n" +
				"\t" + sub.name + " " + sub.first + "\n" +
				"\ttools a_*\n" +
				"\t" + sub.name + " " + sub.second + "\n" +
				"}"
			var k KeepAlive
			err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
			wantErrAt(t, err, "subdirective '"+sub.name+"' given twice", "Testfile:4")
		})
	}

	// A bad first value is reported as such, at its own line.
	var k KeepAlive
	err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`mcp_keepalive {
	grace soon
	grace 1s
}`))
	wantErrAt(t, err, "grace: invalid duration 'soon'", "Testfile:2")

	// tools is the exception: its patterns add up.
	k = KeepAlive{}
	if err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`mcp_keepalive {
	tools a_*
	grace 1s
	tools b_*
}`)); err != nil {
		t.Fatalf("tools on two lines: %v", err)
	}
	if want := []string{"a_*", "b_*"}; !reflect.DeepEqual(k.Tools, want) {
		t.Errorf("tools %q, want %q", k.Tools, want)
	}
}

// TestKeepAliveDirective checks the function registered for the directive.
func TestKeepAliveDirective(t *testing.T) {
	h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(`mcp_keepalive {
	grace 0
	max_held 3
}`)}
	mh, err := parseKeepAlive(h)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := mh.(*KeepAlive)
	if !ok {
		t.Fatalf("parseKeepAlive gave %T, want *KeepAlive", mh)
	}
	if k.Grace == nil || *k.Grace != 0 || k.MaxHeld != 3 {
		t.Errorf("got %s", dumpJSON(t, k))
	}

	h = httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(`mcp_keepalive {
	grace never
}`)}
	if _, err := parseKeepAlive(h); err == nil {
		t.Error("parseKeepAlive: no error for a bad grace")
	}
}

func TestKeepAliveModule(t *testing.T) {
	info, err := caddy.GetModule("http.handlers.mcp_keepalive")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.New().(*KeepAlive); !ok {
		t.Errorf("New gives %T, want *KeepAlive", info.New())
	}
}

// TestKeepAliveJSON checks the JSON config, as Caddy loads it, against the
// engine configuration it gives: absent fields take their defaults, and a
// grace of 0 given explicitly is 0.
func TestKeepAliveJSON(t *testing.T) {
	def := keepalive.DefaultConfig()
	with := func(f func(*keepalive.Config)) keepalive.Config {
		c := keepalive.DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		json string
		want keepalive.Config
	}{
		{name: "empty", json: `{}`, want: def},
		{name: "grace 0", json: `{"grace":0}`, want: with(func(c *keepalive.Config) { c.Grace = 0 })},
		{name: "grace 0s string", json: `{"grace":"0s"}`, want: with(func(c *keepalive.Config) { c.Grace = 0 })},
		{name: "grace null is the default", json: `{"grace":null}`, want: def},
		{name: "grace in nanoseconds", json: `{"grace":2000000000}`, want: with(func(c *keepalive.Config) { c.Grace = 2 * time.Second })},
		{name: "grace as a string", json: `{"grace":"1d"}`, want: with(func(c *keepalive.Config) { c.Grace = 24 * time.Hour })},
		{name: "interval 0 is the default", json: `{"interval":0}`, want: def},
		{name: "interval", json: `{"interval":"5s"}`, want: with(func(c *keepalive.Config) { c.Interval = 5 * time.Second })},
		{name: "progress false", json: `{"progress":false}`, want: with(func(c *keepalive.Config) { c.Progress = false })},
		{name: "progress true", json: `{"progress":true}`, want: def},
		{name: "spill_dir", json: `{"spill_dir":"/srv/spill"}`, want: with(func(c *keepalive.Config) { c.SpillDir = "/srv/spill" })},
		{name: "spill_dir empty is the default", json: `{"spill_dir":""}`, want: def},
		{name: "spill_after 0 is the default", json: `{"spill_after":0}`, want: def},
		{name: "spill_after", json: `{"spill_after":65536}`, want: with(func(c *keepalive.Config) { c.SpillAfter = 65536 })},
		{name: "spill_limit 0 is the default", json: `{"spill_limit":0}`, want: def},
		{name: "spill_limit", json: `{"spill_limit":1073741824}`, want: with(func(c *keepalive.Config) { c.SpillLimit = 1 << 30 })},
		{
			name: "everything",
			json: `{"tools":["stata_*","x"],"grace":"3s","interval":"4s","progress":false,` +
				`"max_duration":"5h","max_request_body":1024,"max_held":7,` +
				`"resume":"10m","poll_after":"20s","retry":"2s","store_limit":2048,` +
				`"spill_dir":"/srv/spill","spill_after":4096,"spill_limit":8192}`,
			want: keepalive.Config{
				Tools:          []string{"stata_*", "x"},
				Grace:          3 * time.Second,
				Interval:       4 * time.Second,
				Progress:       false,
				MaxDuration:    5 * time.Hour,
				MaxRequestBody: 1024,
				MaxHeld:        7,
				Resume:         10 * time.Minute,
				PollAfter:      20 * time.Second,
				Retry:          2 * time.Second,
				StoreLimit:     2048,
				SpillDir:       "/srv/spill",
				SpillAfter:     4096,
				SpillLimit:     8192,
			},
		},
		{
			name: "resume off",
			json: `{"resume":0}`,
			want: func() keepalive.Config { c := keepalive.DefaultConfig(); c.Resume = 0; return c }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k KeepAlive
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &k); err != nil {
				t.Fatal(err)
			}
			if got := k.config(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config() = %+v\nwant       %+v", got, tt.want)
			}
			if err := k.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	// The defaults the fields' documentation and the README give.
	if def.Grace != time.Second {
		t.Errorf("default grace is %v, documented as 1s", def.Grace)
	}
	if def.SpillDir != "" || def.SpillAfter != 1<<20 || def.SpillLimit != 4<<30 {
		t.Errorf("default spill settings %q, %d, %d; documented as the OS temp dir, 1MiB, 4GiB",
			def.SpillDir, def.SpillAfter, def.SpillLimit)
	}
}

func TestKeepAliveValidateJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string
	}{
		{name: "bad glob", json: `{"tools":["["]}`, want: []string{"mcp_keepalive", `"["`, "syntax error in pattern"}},
		{name: "bad glob after good ones", json: `{"tools":["stata_*","ok","run_[a-"]}`, want: []string{`"run_[a-"`}},
		{name: "negative grace", json: `{"grace":-1}`, want: []string{"mcp_keepalive", "grace"}},
		{name: "negative interval", json: `{"interval":"-1s"}`, want: []string{"interval"}},
		{name: "negative max_duration", json: `{"max_duration":-5}`, want: []string{"max_duration"}},
		{name: "negative max_request_body", json: `{"max_request_body":-1}`, want: []string{"max_request_body"}},
		{name: "negative max_held", json: `{"max_held":-1}`, want: []string{"max_held"}},
		{name: "negative spill_after", json: `{"spill_after":-1}`, want: []string{"mcp_keepalive", "spill_after must be positive"}},
		{name: "negative spill_limit", json: `{"spill_limit":-1}`, want: []string{"mcp_keepalive", "spill_limit must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k KeepAlive
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &k); err != nil {
				t.Fatal(err)
			}
			wantErrAt(t, k.Validate(), tt.want...)
		})
	}
}

func TestKeepAliveJSONUnknownField(t *testing.T) {
	var k KeepAlive
	if err := caddy.StrictUnmarshalJSON([]byte(`{"grace_period":"1s"}`), &k); err == nil {
		t.Error("no error for an unknown field")
	}
}

// TestKeepAliveCaddyfileToJSON checks that what the Caddyfile sets survives
// the JSON config Caddy actually loads: above all that grace 0 stays 0 rather
// than falling back to the default.
func TestKeepAliveCaddyfileToJSON(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		wantJSON string
		want     func(*keepalive.Config)
	}{
		{
			name:     "no settings",
			input:    `mcp_keepalive`,
			wantJSON: `{}`,
			want:     func(*keepalive.Config) {},
		},
		{
			name: "grace 0",
			input: `mcp_keepalive {
	grace 0
}`,
			wantJSON: `{"grace":0}`,
			want:     func(c *keepalive.Config) { c.Grace = 0 },
		},
		{
			name: "progress off",
			input: `mcp_keepalive {
	progress off
}`,
			wantJSON: `{"progress":false}`,
			want:     func(c *keepalive.Config) { c.Progress = false },
		},
		{
			name: "spill settings",
			input: `mcp_keepalive {
	spill_dir /srv/spill
	spill_after 64KiB
	spill_limit 1GiB
}`,
			wantJSON: `{"spill_dir":"/srv/spill","spill_after":65536,"spill_limit":1073741824}`,
			want: func(c *keepalive.Config) {
				c.SpillDir = "/srv/spill"
				c.SpillAfter = 64 << 10
				c.SpillLimit = 1 << 30
			},
		},
		{
			name: "everything",
			input: `mcp_keepalive {
	tools a_* b
	grace 1d
	interval 30s
	progress on
	max_duration 2h
	max_request_body 512KB
	max_held 9
}`,
			wantJSON: `{"tools":["a_*","b"],"grace":86400000000000,"interval":30000000000,"progress":true,` +
				`"max_duration":7200000000000,"max_request_body":512000,"max_held":9}`,
			want: func(c *keepalive.Config) {
				c.Tools = []string{"a_*", "b"}
				c.Grace = 24 * time.Hour
				c.Interval = 30 * time.Second
				c.Progress = true
				c.MaxDuration = 2 * time.Hour
				c.MaxRequestBody = 512000
				c.MaxHeld = 9
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k KeepAlive
			if err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(&k)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != tt.wantJSON {
				t.Errorf("JSON %s, want %s", raw, tt.wantJSON)
			}
			var loaded KeepAlive
			if err := caddy.StrictUnmarshalJSON(raw, &loaded); err != nil {
				t.Fatal(err)
			}
			want := keepalive.DefaultConfig()
			tt.want(&want)
			if got := loaded.config(); !reflect.DeepEqual(got, want) {
				t.Errorf("config() = %+v\nwant       %+v", got, want)
			}
		})
	}
}

// dumpJSON renders v for a failure message.
func dumpJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// durationPtr returns a pointer to d as a caddy.Duration.
func durationPtr(d time.Duration) *caddy.Duration {
	cd := caddy.Duration(d)
	return &cd
}
