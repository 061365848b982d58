// Package tasks is the bookkeeping of MCP tasks that mcp_keepalive offers on
// behalf of an upstream that has none (protocol 2025-11-25, "experimental"
// tasks): the JSON shapes of a task and of the task methods' results, task
// ids, statuses, the time to live of a task, and the registry of each
// session's tasks with its cursor for tasks/list.
//
// A task here is a held call: package hold runs it, and its stream (in
// memory, and mirrored to a shared store when there is one) holds its events
// and its response. A task id carries the id of that stream, when the task
// was created and its time to live, so that any process that can read the
// stream can answer for the task; the registry adds what only the process
// that created the task knows: the session's list, and a cancel's time.
package tasks
