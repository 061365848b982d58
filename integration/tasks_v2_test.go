package integration

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// extTasks is what integration/ts/ext-tasks-client.mjs (2025-11-25) or
// ext-tasks-v2-client.mjs (2026-07-28) saw; Era and Extension are the
// latter's alone.
type extTasks struct {
	Era       string          `json:"era"`
	Extension json.RawMessage `json:"extension"`
	Plain     json.RawMessage `json:"plain"`
	Kind      string          `json:"kind"`
	Handle    *struct {
		TaskID string `json:"taskId"`
	} `json:"handle"`
	CreatedAtMs int64 `json:"createdAtMs"`
	Events      []struct {
		Type          string  `json:"type"`
		Status        string  `json:"status"`
		StatusMessage *string `json:"statusMessage"`
		AtMs          int64   `json:"atMs"`
	} `json:"events"`
	Outcome string          `json:"outcome"`
	Result  json.RawMessage `json:"result"`
	Error   *string         `json:"error"`
}

// runExtTasks runs the ext-tasks client script against url with cfg's
// tool, args and options, and fails the test unless it ran without error.
func runExtTasks(t *testing.T, script, url string, cfg map[string]any) (extTasks, []byte) {
	t.Helper()
	cfg["url"] = url
	arg, _ := json.Marshal(cfg)
	cmd := exec.Command("node", filepath.Join(tsDir, script), string(arg))
	var errs lockedBuffer
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, errs.String())
	}
	var res extTasks
	if err := json.Unmarshal(out, &res); err != nil || res.Error != nil {
		t.Fatalf("%s printed %s (%v)\n%s", script, out, err, errs.String())
	}
	return res, out
}

// runExtTasksV2 runs @modelcontextprotocol/ext-tasks as a 2026-07-28
// requester against url with cfg's tool, args and cancelAfterMs.
func runExtTasksV2(t *testing.T, url string, cfg map[string]any) extTasks {
	t.Helper()
	res, _ := runExtTasks(t, "ext-tasks-v2-client.mjs", url, cfg)
	if res.Era != "modern" || string(res.Extension) != "{}" {
		t.Fatalf("era %q, tasks extension %s: caddy-stata did not advertise the extension in server/discover", res.Era, res.Extension)
	}
	return res
}

// comparable returns a tool result without what differs between a plain
// call and a task's (the wire's resultType, the related task's _meta).
func comparable(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	m, _ := withoutMeta(t, raw)
	delete(m, "resultType")
	return m
}

// TestTasksExtTasksV2 runs a tool of the Go SDK server (stateless, so at
// protocol 2026-07-28, with no tasks) through caddy-stata with
// @modelcontextprotocol/ext-tasks as a 2026-07-28 requester: caddy-stata
// declares the extension in server/discover; a call still running after
// grace is answered with a task (resultType "task"), whose polls carry the
// upstream's progress and, once over, the plain call's result; a call done
// within grace gets its answer at once; and cancelling a task cancels the
// upstream's call.
func TestTasksExtTasksV2(t *testing.T) {
	up := startUpstreamWith(t, false, true)
	c := startCaddy(t, up.HostPort, tasksSite)
	url := c.URL + "/mcp"

	long := runExtTasksV2(t, url, map[string]any{"tool": "progress_sleep", "args": map[string]any{"ms": 4500}})
	if long.Kind != "task" || long.Handle == nil || long.CreatedAtMs > 3500 {
		t.Fatalf("a long call: kind %q, handle %v after %d ms", long.Kind, long.Handle, long.CreatedAtMs)
	}
	stepped := 0
	for _, ev := range long.Events {
		if ev.Status == "working" && ev.StatusMessage != nil && strings.Contains(*ev.StatusMessage, "upstream step") {
			stepped++
		}
	}
	if stepped < 2 || long.Outcome != "completed" || !reflect.DeepEqual(comparable(t, long.Result), comparable(t, long.Plain)) {
		t.Fatalf("%d polls with the upstream's progress; outcome %s, result %s, plain %s", stepped, long.Outcome, long.Result, long.Plain)
	}

	quick := runExtTasksV2(t, url, map[string]any{"tool": "sleep", "args": map[string]any{"ms": 100, "tag": "quick"}})
	if quick.Kind != "immediate" || quick.Outcome != "completed" || !reflect.DeepEqual(comparable(t, quick.Result), comparable(t, quick.Plain)) {
		t.Fatalf("a quick call: kind %q, outcome %s, result %s", quick.Kind, quick.Outcome, quick.Result)
	}
	for range 2 { // the plain call and the quick task ended
		<-up.ends
	}

	res := runExtTasksV2(t, url, map[string]any{"tool": "sleep", "args": map[string]any{"ms": 60000, "tag": "cancel-me"}, "cancelAfterMs": 2000, "plainArgs": map[string]any{"ms": 10, "tag": "plain"}})
	if res.Kind != "task" || res.Outcome != "cancelled" {
		t.Fatalf("a cancelled task: kind %q, outcome %s", res.Kind, res.Outcome)
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case end := <-up.ends:
			if end.Tag != "cancel-me" {
				continue
			}
			if end.Err == nil {
				t.Fatal("the upstream ran the cancelled call to its end")
			}
			return
		case <-deadline:
			t.Fatal("the upstream never saw the cancel")
		}
	}
}
