package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTasksRedisOtherInstance creates a task on instance A, and fetches its
// status and result through instance B, which shares A's Redis and has
// never seen the task; another session gets the unknown id's error there
// too.
func TestTasksRedisOtherInstance(t *testing.T) {
	redis := startRedis(t)
	_, hostPort := startLongServer(t)
	a, b := twoInstances(t, redis, hostPort, "0")
	args := map[string]any{"steps": 6, "stepMs": 1000, "tag": "shared"}
	session, steps := taskClient(t, a.URL+"/mcp", "",
		map[string]any{"op": "create", "tool": "long", "args": args})
	var created struct {
		Task taskJSON `json:"task"`
	}
	steps[0].value(t, &created)
	id := created.Task.TaskID

	_, steps = taskClient(t, b.URL+"/mcp", session,
		map[string]any{"op": "get", "taskId": id},
		map[string]any{"op": "result", "taskId": id},
		map[string]any{"op": "get", "taskId": id},
		map[string]any{"op": "plain", "tool": "long", "args": args},
	)
	var before, after taskJSON
	steps[0].value(t, &before)
	steps[2].value(t, &after)
	if before.Status != "working" || after.Status != "completed" || before.TaskID != id {
		t.Fatalf("through B: before %+v, after %+v", before, after)
	}
	var result, plain json.RawMessage
	steps[1].value(t, &result)
	steps[3].value(t, &plain)
	got, related := withoutMeta(t, result)
	want, _ := withoutMeta(t, plain)
	if fmt.Sprint(got) != fmt.Sprint(want) || related != id || !strings.Contains(string(result), "long done: shared") {
		t.Fatalf("B's tasks/result %s, the plain call's %s", result, plain)
	}
	if a.countLogs("task created") != 1 || b.countLogs("task created") != 0 {
		t.Fatalf("the task was not A's alone:\nA:\n%s\nB:\n%s", a.Logs(), b.Logs())
	}
	_, steps = taskClient(t, b.URL+"/mcp", "",
		map[string]any{"op": "get", "taskId": id},
		map[string]any{"op": "get", "taskId": strings.Repeat("0", 32) + id[32:]},
	)
	if steps[0].OK || steps[1].OK || *steps[0].Error != *steps[1].Error {
		t.Fatalf("another session through B: %+v; an unknown id: %+v", steps[0], steps[1])
	}
}

// TestTasksRedisCancelOnOtherInstance creates a task on instance A and
// cancels it through instance B, which never saw it: the upstream sees the
// cancel and stops the tool, B answers the task cancelled, and A, where the
// call ran, says so too; cancelling it again through B is refused.
func TestTasksRedisCancelOnOtherInstance(t *testing.T) {
	redis := startRedis(t)
	up, hostPort := startLongServer(t)
	a, b := twoInstances(t, redis, hostPort, "0")
	session, steps := taskClient(t, a.URL+"/mcp", "",
		map[string]any{"op": "create", "tool": "long", "args": map[string]any{"steps": 60, "stepMs": 500, "tag": "cancel-on-b"}})
	var created struct {
		Task taskJSON `json:"task"`
	}
	steps[0].value(t, &created)
	id := created.Task.TaskID
	up.waitLine(`"event":"started","tag":"cancel-on-b"`)

	_, steps = taskClient(t, b.URL+"/mcp", session,
		map[string]any{"op": "cancel", "taskId": id},
	)
	var cancelled taskJSON
	steps[0].value(t, &cancelled)
	if cancelled.Status != "cancelled" || cancelled.TaskID != id {
		t.Fatalf("tasks/cancel through B: %+v", cancelled)
	}
	up.waitLine(`"event":"cancelled","tag":"cancel-on-b"`)
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if _, err := a.waitLog(ctx, "held call cancelled by the client through another instance"); err != nil {
		t.Fatalf("A did not end the call: %v", err)
	}
	_, steps = taskClient(t, a.URL+"/mcp", session,
		map[string]any{"op": "get", "taskId": id},
	)
	var onA taskJSON
	steps[0].value(t, &onA)
	if onA.Status != "cancelled" {
		t.Fatalf("A's tasks/get after the cancel through B: %+v", onA)
	}
	_, steps = taskClient(t, b.URL+"/mcp", session,
		map[string]any{"op": "cancel", "taskId": id},
	)
	if steps[0].OK || !strings.Contains(*steps[0].Error, "cancelled already") {
		t.Fatalf("cancelling it again through B: %+v", steps[0])
	}
	if up.count(`"event":"done","tag":"cancel-on-b"`) != 0 {
		t.Fatal("the upstream ran the cancelled tool to its end")
	}
}

// TestTasksRedisListAcrossInstances creates one task of a session on
// instance A and one on instance B: tasks/list through either instance
// lists both, in the order of their creation, with their states, and
// another session lists none.
func TestTasksRedisListAcrossInstances(t *testing.T) {
	redis := startRedis(t)
	_, hostPort := startLongServer(t)
	a, b := twoInstances(t, redis, hostPort, "0")
	session, steps := taskClient(t, a.URL+"/mcp", "",
		map[string]any{"op": "create", "tool": "long", "args": map[string]any{"steps": 1, "stepMs": 100, "tag": "on-a"}})
	var onA, onB struct {
		Task taskJSON `json:"task"`
	}
	steps[0].value(t, &onA)
	_, steps = taskClient(t, b.URL+"/mcp", session,
		map[string]any{"op": "create", "tool": "long", "args": map[string]any{"steps": 60, "stepMs": 500, "tag": "on-b"}},
		map[string]any{"op": "result", "taskId": onA.Task.TaskID},
	)
	steps[0].value(t, &onB)
	if !steps[1].OK {
		t.Fatalf("A's task through B: %+v", steps[1])
	}
	for name, c := range map[string]*caddy{"A": a, "B": b} {
		_, steps = taskClient(t, c.URL+"/mcp", session, map[string]any{"op": "list"})
		var list struct {
			Tasks []taskJSON `json:"tasks"`
		}
		steps[0].value(t, &list)
		if len(list.Tasks) != 2 || list.Tasks[0].TaskID != onA.Task.TaskID || list.Tasks[1].TaskID != onB.Task.TaskID ||
			list.Tasks[0].Status != "completed" || list.Tasks[1].Status != "working" {
			t.Fatalf("tasks/list through %s: %+v; want A's task completed, then B's working", name, list.Tasks)
		}
	}
	_, steps = taskClient(t, a.URL+"/mcp", "", map[string]any{"op": "list"})
	var other struct {
		Tasks []taskJSON `json:"tasks"`
	}
	steps[0].value(t, &other)
	if len(other.Tasks) != 0 {
		t.Fatalf("another session lists %+v", other.Tasks)
	}
}

// TestTasksStataRunner runs a do-file of about 8 s as a task of
// stata_runner (the stand-in as Stata) with the SDK's tasks client: the
// status message carries the runner's progress (the log's lines), and the
// result is the plain call's but for the log's timing.
func TestTasksStataRunner(t *testing.T) {
	port := freePort(t)
	c := startCaddy(t, fmt.Sprintf("127.0.0.1:%d", port), tasksSite, fmt.Sprintf(`http://127.0.0.1:%d {
	stata_runner /mcp {
		stata %s
		work_dir %s
	}
}`, port, standin, t.TempDir()))
	src := "display \"begin\"\n"
	for i := 1; i <= 4; i++ {
		src += fmt.Sprintf("sleep 2000\ndisplay \"step %d\"\n", i)
	}
	doFile := writeDo(t, "task.do", src)
	_, steps := taskClient(t, c.URL+"/mcp", "",
		map[string]any{"op": "stream", "tool": "stata_run_file", "args": map[string]any{"file_path": doFile}})
	s := steps[0]
	if !s.OK || s.Messages[0].Type != "taskCreated" || s.Messages[0].AtMs > 3000 {
		t.Fatalf("callToolStream: %+v", s)
	}
	logLines := 0
	for _, m := range s.Messages {
		if m.Type == "taskStatus" && m.Task.Status == "working" &&
			(strings.Contains(m.Task.StatusMessage, "step") || strings.Contains(m.Task.StatusMessage, "sleep 2000")) {
			logLines++
		}
	}
	last := s.Messages[len(s.Messages)-1]
	if logLines < 2 || last.AtMs < 7000 {
		t.Fatalf("%d polls carry log lines; the result came after %d ms: %+v", logLines, last.AtMs, s.Messages)
	}
	for _, want := range []string{`\nbegin\n`, `\nstep 4\n`, "end of do-file"} {
		if !strings.Contains(string(last.Result), want) {
			t.Fatalf("result lacks %q:\n%s", want, last.Result)
		}
	}
}

// TestTasksExpire creates a task whose client asked for a time to live of
// 2 s (the raw protocol, since the wait is the point): once it is over,
// tasks/get names the expiry, and the task leaves tasks/list.
func TestTasksExpire(t *testing.T) {
	up := startUpstream(t, false)
	c := startCaddy(t, up.HostPort, tasksSite)
	url := c.URL + "/mcp"
	session := rawInitializeVersion(t, url, "2025-11-25")
	call := func(body string) string {
		req := rawRequest(context.Background(), t, url, session, body)
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	created := call(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":100},"task":{"ttl":2000}}}`)
	var res struct {
		Result struct {
			Task taskJSON `json:"task"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(created), &res); err != nil || res.Result.Task.TTL != 2000 {
		t.Fatalf("create: %s", created)
	}
	id := res.Result.Task.TaskID
	get := `{"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"` + id + `"}}`
	if got := call(get); !strings.Contains(got, `"status":"completed"`) && !strings.Contains(got, `"status":"working"`) {
		t.Fatalf("tasks/get: %s", got)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := call(get)
		if strings.Contains(got, "expired") {
			if !strings.Contains(got, `"code":-32602`) {
				t.Fatalf("expired: %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no expiry after 15 s: %s", got)
		}
		time.Sleep(200 * time.Millisecond) // polling a clock: no signal exists
	}
	if got := call(`{"jsonrpc":"2.0","id":3,"method":"tasks/list"}`); !strings.Contains(got, `"tasks":[]`) {
		t.Fatalf("tasks/list after expiry: %s", got)
	}
}

// TestTasksExampleFile runs the README's examples/tasks.Caddyfile with
// max_tasks 2: a session's third task is refused with a JSON-RPC error
// while another session may still create one, and the metrics count tasks
// by status and the task methods served.
func TestTasksExampleFile(t *testing.T) {
	_, hostPort := startLongServer(t)
	c := startExampleFile(t, "tasks.Caddyfile", map[string]string{
		"PORT": fmt.Sprint(freePort(t)), "ADMIN_PORT": fmt.Sprint(freePort(t)),
		"TASK_POLL": "500ms", "MAX_TASKS": "2", "MCP_UPSTREAM": hostPort,
	})
	args := map[string]any{"steps": 1, "stepMs": 100, "tag": "limit"}
	create := map[string]any{"op": "create", "tool": "long", "args": args}
	_, steps := taskClient(t, c.URL+"/mcp", "", create, create, create)
	var first struct {
		Task taskJSON `json:"task"`
	}
	steps[0].value(t, &first)
	if !steps[1].OK || steps[2].OK || !strings.Contains(*steps[2].Error, "max_tasks") {
		t.Fatalf("three tasks in a session of max_tasks 2: %+v", steps)
	}
	if first.Task.PollInterval != 500 || first.Task.TTL != 60000 {
		t.Fatalf("task %+v, want the file's poll interval and the ttl asked for", first.Task)
	}
	_, steps = taskClient(t, c.URL+"/mcp", "", create, map[string]any{"op": "get", "taskId": first.Task.TaskID})
	if !steps[0].OK || steps[1].OK {
		t.Fatalf("another session: %+v", steps)
	}
	if n := metric(t, c, `caddy_mcp_keepalive_tasks_total{status="working"}`); n != 3 {
		t.Fatalf("tasks created: %v, want 3", n)
	}
	if n := metric(t, c, `caddy_mcp_keepalive_task_polls_total{method="tasks/get"}`); n != 1 {
		t.Fatalf("tasks/get served: %v, want 1", n)
	}
}
