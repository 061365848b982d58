package rest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine of the gateway outlives the tests: calls,
// streams, sockets and upstream client sessions all end. The test upstreams'
// server sessions are the upstream's own business (a replaced handler, as in
// a restart, never hears of its sessions again), so their readers are let be.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/modelcontextprotocol/go-sdk/mcp.(*streamableServerConn).Read"))
}
