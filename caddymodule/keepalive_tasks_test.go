package caddymodule

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stata/caddy-stata/internal/tasks"
)

// TestKeepAliveCaddyfileTasks parses the task subdirectives into their
// JSON, and checks their defaults and their errors, which name the line.
func TestKeepAliveCaddyfileTasks(t *testing.T) {
	var k KeepAlive
	err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`mcp_keepalive {
	tasks off
	task_ttl 20m
	task_poll 2s
	max_tasks 7
}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(&k)
	if want := `{"tasks":false,"task_ttl":1200000000000,"task_poll":2000000000,"max_tasks":7}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	if cfg := k.taskConfig(); cfg != (tasks.Config{TTL: 20 * time.Minute, Poll: 2 * time.Second, Max: 7}) {
		t.Fatalf("config %+v", cfg)
	}
	if cfg := (&KeepAlive{}).taskConfig(); cfg != (tasks.Config{TTL: time.Hour, Poll: 5 * time.Second, Max: 100}) {
		t.Fatalf("defaults %+v", cfg)
	}
	for _, tt := range []struct{ input, want string }{
		{"tasks maybe", "tasks must be 'on' or 'off', not 'maybe'"},
		{"task_ttl soon", "task_ttl: invalid duration 'soon'"},
		{"max_tasks 0", "max_tasks: need a positive whole number, not '0'"},
		{"task_poll", "wrong argument count"},
	} {
		var k KeepAlive
		err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser("mcp_keepalive {\n\tgrace 1s\n\t" + tt.input + "\n}"))
		wantErrAt(t, err, tt.want, "Testfile:3")
	}
	k = KeepAlive{}
	err = k.UnmarshalCaddyfile(caddyfile.NewTestDispenser("mcp_keepalive {\n\ttasks on\n\ttasks off\n}"))
	wantErrAt(t, err, "subdirective 'tasks' given twice", "Testfile:3")
}
