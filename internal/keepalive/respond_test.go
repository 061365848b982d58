package keepalive

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-stata/caddy-stata/internal/mcpmsg"
)

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, 503, json.RawMessage(`"a"`), mcpmsg.CodeServerBusy, BusyMessage)
	want := `{"jsonrpc":"2.0","id":"a","error":{"code":-32000,"message":"too many calls in progress, try again later"}}`
	if rec.Code != 503 || rec.Body.String() != want {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if h := rec.Header(); h.Get("Content-Type") != "application/json" || h.Get("Content-Length") != strconv.Itoa(len(want)) {
		t.Fatalf("header %v", h)
	}
}

func TestLogFinished(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	c := &Call{ID: json.RawMessage(`7`), Tool: "sleep", Start: time.Now().Add(-time.Second)}
	LogFinished(zap.New(core), []*Call{c}, OutcomeUpstreamError, "broken", zap.String("transport", "legacy"))
	all := logs.FilterMessage("held call finished").All()
	if len(all) != 1 {
		t.Fatalf("%d lines", len(all))
	}
	m := all[0].ContextMap()
	if m["tool"] != "sleep" || m["id"] != "7" || m["outcome"] != "upstream_error" || m["cause"] != "broken" ||
		m["transport"] != "legacy" || m["duration"].(time.Duration) < time.Second {
		t.Fatalf("fields %v", m)
	}
}
