package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tasksSite is mcp_keepalive with tasks (on by default) and a short poll
// interval, so that the SDK's task client polls often, in front of
// {upstream}.
const tasksSite = `
	mcp_keepalive {
		interval 1s
		task_poll 500ms
	}
	reverse_proxy {upstream} {
		header_up Host {upstream_hostport}
	}`

// startLongServer runs integration/ts/long-server.mjs, an upstream on the
// TypeScript SDK with a long tool and no tasks, and returns it and its
// host:port.
func startLongServer(t *testing.T) (*nodeServer, string) {
	t.Helper()
	s := startNode(t, "long-server.mjs", nil, filepath.Join(tsDir, "long-server.mjs"))
	var ready struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal([]byte(s.waitLine(`"event":"listening"`)), &ready); err != nil || ready.Port == 0 {
		t.Fatalf("long-server.mjs: no port: %v", err)
	}
	return s, fmt.Sprintf("127.0.0.1:%d", ready.Port)
}

// taskJSON is a task as the SDK client got it.
type taskJSON struct {
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
	CreatedAt     string `json:"createdAt"`
	LastUpdatedAt string `json:"lastUpdatedAt"`
	TTL           int64  `json:"ttl"`
	PollInterval  int64  `json:"pollInterval"`
}

// taskStep is what tasks-client.mjs did for one step.
type taskStep struct {
	OK       bool            `json:"ok"`
	Value    json.RawMessage `json:"value"`
	Error    *string         `json:"error"`
	Messages []struct {
		Type   string          `json:"type"`
		AtMs   int64           `json:"atMs"`
		Task   *taskJSON       `json:"task"`
		Result json.RawMessage `json:"result"`
		Error  *string         `json:"error"`
	} `json:"messages"`
	ElapsedMs int64 `json:"elapsedMs"`
}

// taskClient runs the TypeScript SDK's tasks client (integration/ts/
// tasks-client.mjs) against url, in session (a new one when empty), with
// steps, and returns the session and what each step did.
func taskClient(t *testing.T, url, session string, steps ...map[string]any) (string, []taskStep) {
	t.Helper()
	s, _, results := runTaskClient(t, url, session, steps...)
	return s, results
}

// taskClientCaps is taskClient that returns the server's capabilities as the
// client saw them instead of the session.
func taskClientCaps(t *testing.T, url, session string, steps ...map[string]any) (json.RawMessage, []taskStep) {
	t.Helper()
	_, caps, results := runTaskClient(t, url, session, steps...)
	return caps, results
}

// runTaskClient is taskClient, with the server's capabilities.
func runTaskClient(t *testing.T, url, session string, steps ...map[string]any) (string, json.RawMessage, []taskStep) {
	t.Helper()
	cfg := map[string]any{"url": url, "steps": steps}
	if session != "" {
		cfg["sessionId"] = session
	}
	arg, _ := json.Marshal(cfg)
	cmd := exec.Command("node", filepath.Join(tsDir, "tasks-client.mjs"), string(arg))
	var errs lockedBuffer
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tasks-client.mjs: %v\n%s", err, errs.String())
	}
	var res struct {
		SessionID string          `json:"sessionId"`
		Caps      json.RawMessage `json:"serverCapabilities"`
		Results   []taskStep      `json:"results"`
		Fatal     *string         `json:"fatal"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Fatal != nil || len(res.Results) != len(steps) {
		t.Fatalf("tasks-client.mjs printed %q (%v)\n%s", out, err, errs.String())
	}
	return res.SessionID, res.Caps, res.Results
}

// value decodes a step's value into v.
func (s taskStep) value(t *testing.T, v any) {
	t.Helper()
	if !s.OK {
		t.Fatalf("step failed: %v", *s.Error)
	}
	if err := json.Unmarshal(s.Value, v); err != nil {
		t.Fatalf("step value %s: %v", s.Value, err)
	}
}

// withoutMeta returns a tool result without its _meta, and the related
// task's id that the _meta names.
func withoutMeta(t *testing.T, raw json.RawMessage) (map[string]any, string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	related := ""
	if meta, ok := m["_meta"].(map[string]any); ok {
		if rt, ok := meta["io.modelcontextprotocol/related-task"].(map[string]any); ok {
			related, _ = rt["taskId"].(string)
		}
		delete(meta, "io.modelcontextprotocol/related-task")
		if len(meta) == 0 {
			delete(m, "_meta")
		}
	}
	return m, related
}

// TestTasksTSClient runs a long tool of a TypeScript SDK server that has no
// tasks twice through caddy-stata with the SDK's experimental tasks client:
// once as a plain call, once with callToolStream asking for a task. The
// task handle comes at once (the client asks for a task because caddy-stata
// advertised tasks in initialize and the tool's taskSupport in tools/list),
// the client polls (seeing the upstream's
// progress as the status message), and the result is the plain call's,
// tied to the task by its _meta.
func TestTasksTSClient(t *testing.T) {
	up, hostPort := startLongServer(t)
	c := startCaddy(t, hostPort, tasksSite)
	args := map[string]any{"steps": 8, "stepMs": 1000, "tag": "same"}
	caps, steps := taskClientCaps(t, c.URL+"/mcp", "",
		map[string]any{"op": "tools"},
		map[string]any{"op": "plain", "tool": "long", "args": args},
		map[string]any{"op": "stream", "tool": "long", "args": args, "auto": true},
	)
	var capsJSON struct {
		Tasks map[string]any `json:"tasks"`
	}
	if err := json.Unmarshal(caps, &capsJSON); err != nil ||
		fmt.Sprint(capsJSON.Tasks) != "map[cancel:map[] list:map[] requests:map[tools:map[call:map[]]]]" {
		t.Fatalf("server capabilities %s", caps)
	}
	if !strings.Contains(string(steps[0].Value), `"execution":{"taskSupport":"optional"}`) {
		t.Fatalf("tools/list %s", steps[0].Value)
	}
	var plain json.RawMessage
	steps[1].value(t, &plain)
	stream := steps[2]
	if !stream.OK || len(stream.Messages) < 4 {
		t.Fatalf("callToolStream: %+v", stream)
	}
	first := stream.Messages[0]
	if first.Type != "taskCreated" || first.Task == nil || first.Task.Status != "working" || first.AtMs > 3000 {
		t.Fatalf("first message %+v, want the task handle at once", first)
	}
	if tk := first.Task; len(tk.TaskID) < 40 || tk.PollInterval != 500 || tk.TTL != 1800000 || tk.CreatedAt == "" || tk.LastUpdatedAt == "" {
		t.Fatalf("task handle %+v", tk)
	}
	working, stepped := 0, 0
	for _, m := range stream.Messages[1 : len(stream.Messages)-2] {
		if m.Type != "taskStatus" || m.Task.Status != "working" || m.Task.TaskID != first.Task.TaskID {
			t.Fatalf("poll %+v", m)
		}
		working++
		if strings.Contains(m.Task.StatusMessage, "step ") && strings.Contains(m.Task.StatusMessage, "/8: same") {
			stepped++
		}
	}
	if working < 4 || stepped < 2 {
		t.Fatalf("%d polls while working, %d with the upstream's progress message: %+v", working, stepped, stream.Messages)
	}
	done, last := stream.Messages[len(stream.Messages)-2], stream.Messages[len(stream.Messages)-1]
	if done.Type != "taskStatus" || done.Task.Status != "completed" || last.Type != "result" || last.AtMs < 7000 {
		t.Fatalf("end of the stream: %+v %+v", done, last)
	}
	got, related := withoutMeta(t, last.Result)
	want, _ := withoutMeta(t, plain)
	if !reflect.DeepEqual(got, want) || related != first.Task.TaskID {
		t.Fatalf("task result %s (related task %q), plain call's %s", last.Result, related, plain)
	}
	if n := up.count(`"event":"done","tag":"same"`); n != 2 {
		t.Fatalf("the upstream ran the tool %d times to its end, want 2", n)
	}
}

// TestTasksFetchAfterDisconnect creates a task with one client process,
// which then exits; a second one (new connections, same session) polls and
// fetches the result, lists the task, and cannot cancel it once it is
// done. A third client, in another session, gets for the task's id the
// error of an unknown id.
func TestTasksFetchAfterDisconnect(t *testing.T) {
	_, hostPort := startLongServer(t)
	c := startCaddy(t, hostPort, tasksSite)
	url := c.URL + "/mcp"
	session, steps := taskClient(t, url, "",
		map[string]any{"op": "create", "tool": "long", "args": map[string]any{"steps": 6, "stepMs": 1000, "tag": "fetch"}})
	var created struct {
		Task taskJSON `json:"task"`
	}
	steps[0].value(t, &created)
	id := created.Task.TaskID
	if created.Task.Status != "working" || steps[0].ElapsedMs > 3000 {
		t.Fatalf("create: %+v after %d ms", created, steps[0].ElapsedMs)
	}

	_, steps = taskClient(t, url, session,
		map[string]any{"op": "get", "taskId": id},
		map[string]any{"op": "result", "taskId": id, "fresh": true},
		map[string]any{"op": "get", "taskId": id},
		map[string]any{"op": "list"},
		map[string]any{"op": "cancel", "taskId": id},
		map[string]any{"op": "get", "taskId": id, "fresh": true},
	)
	var before, after, final taskJSON
	steps[0].value(t, &before)
	steps[2].value(t, &after)
	steps[5].value(t, &final)
	if before.Status != "working" || after.Status != "completed" || final.Status != "completed" || final.LastUpdatedAt != after.LastUpdatedAt {
		t.Fatalf("statuses: before %+v, after %+v, after the cancel %+v", before, after, final)
	}
	var result json.RawMessage
	steps[1].value(t, &result)
	got, related := withoutMeta(t, result)
	if !strings.Contains(fmt.Sprint(got), "long done: fetch after 6 steps") || related != id {
		t.Fatalf("tasks/result %s", result)
	}
	var list struct {
		Tasks []taskJSON `json:"tasks"`
	}
	steps[3].value(t, &list)
	if len(list.Tasks) != 1 || list.Tasks[0].TaskID != id || list.Tasks[0].Status != "completed" {
		t.Fatalf("tasks/list %+v", list)
	}
	if steps[4].OK || !strings.Contains(*steps[4].Error, "completed already") {
		t.Fatalf("cancelling a finished task: %+v", steps[4])
	}

	unknown := strings.Repeat("0", 32) + id[32:]
	_, steps = taskClient(t, url, "",
		map[string]any{"op": "get", "taskId": id},
		map[string]any{"op": "get", "taskId": unknown},
		map[string]any{"op": "result", "taskId": id},
		map[string]any{"op": "list"},
	)
	if steps[0].OK || steps[1].OK || steps[2].OK || *steps[0].Error != *steps[1].Error || *steps[2].Error != *steps[1].Error {
		t.Fatalf("another session's tasks/get and tasks/result: %+v; an unknown id's: %+v", steps[0], steps[1])
	}
	var other struct {
		Tasks []taskJSON `json:"tasks"`
	}
	steps[3].value(t, &other)
	if len(other.Tasks) != 0 {
		t.Fatalf("another session lists %+v", other)
	}
}

// TestTasksCancel cancels a running task: the upstream sees the client's
// cancel (the SDK server aborts the tool), the task is cancelled for good,
// and its result is an error.
func TestTasksCancel(t *testing.T) {
	up, hostPort := startLongServer(t)
	c := startCaddy(t, hostPort, tasksSite)
	url := c.URL + "/mcp"
	session, steps := taskClient(t, url, "",
		map[string]any{"op": "create", "tool": "long", "args": map[string]any{"steps": 60, "stepMs": 500, "tag": "cancel-me"}})
	var created struct {
		Task taskJSON `json:"task"`
	}
	steps[0].value(t, &created)
	up.waitLine(`"event":"started","tag":"cancel-me"`)
	_, steps = taskClient(t, url, session,
		map[string]any{"op": "cancel", "taskId": created.Task.TaskID},
		map[string]any{"op": "get", "taskId": created.Task.TaskID},
		map[string]any{"op": "result", "taskId": created.Task.TaskID},
		map[string]any{"op": "cancel", "taskId": created.Task.TaskID},
	)
	var cancelled, got taskJSON
	steps[0].value(t, &cancelled)
	steps[1].value(t, &got)
	if cancelled.Status != "cancelled" || got.Status != "cancelled" {
		t.Fatalf("after tasks/cancel: %+v, then %+v", cancelled, got)
	}
	up.waitLine(`"event":"cancelled","tag":"cancel-me"`)
	if steps[2].OK || !strings.Contains(*steps[2].Error, "cancelled") {
		t.Fatalf("tasks/result of a cancelled task: %+v", steps[2])
	}
	if steps[3].OK || !strings.Contains(*steps[3].Error, "cancelled already") {
		t.Fatalf("cancelling it again: %+v", steps[3])
	}
	if up.count(`"event":"done","tag":"cancel-me"`) != 0 {
		t.Fatal("the upstream ran the cancelled tool to its end")
	}
}

// TestTasksExtTasksClient runs a long tool of the TypeScript SDK server
// that has no tasks through caddy-stata with @modelcontextprotocol/ext-tasks
// (the requester, on the SDK's v2 client): against the 2025-11-25 tasks
// caddy-stata advertises, it calls the tool as a task, gets the handle at
// once, sees the upstream's progress in the polls, and its outcome's result
// is the plain call's, tied to the task.
func TestTasksExtTasksClient(t *testing.T) {
	_, hostPort := startLongServer(t)
	c := startCaddy(t, hostPort, tasksSite)
	res, out := runExtTasks(t, "ext-tasks-client.mjs", c.URL+"/mcp", map[string]any{"tool": "long",
		"args": map[string]any{"steps": 6, "stepMs": 1000, "tag": "ext"}})
	if res.Kind != "task" || res.Handle == nil || res.CreatedAtMs > 3000 {
		t.Fatalf("execution %s, want a task handle at once", out)
	}
	stepped := 0
	for _, ev := range res.Events {
		if ev.Status == "working" && ev.StatusMessage != nil && strings.Contains(*ev.StatusMessage, "/6: ext") {
			stepped++
		}
	}
	last := res.Events[len(res.Events)-1]
	if stepped < 2 || res.Outcome != "completed" || last.Type != "outcome" || last.AtMs < 5000 {
		t.Fatalf("events %s", out)
	}
	got, related := withoutMeta(t, res.Result)
	want, _ := withoutMeta(t, res.Plain)
	if !reflect.DeepEqual(got, want) || related != res.Handle.TaskID {
		t.Fatalf("outcome's result %s (related task %q), plain call's %s", res.Result, related, res.Plain)
	}
}
