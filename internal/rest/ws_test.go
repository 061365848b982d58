package rest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

func TestWebSocket(t *testing.T) {
	u := newTestUpstream(t)
	_, url := newTestGateway(t, u, Config{Interval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws/tools/wait", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(s string) {
		if err := conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"id":"a","arguments":{"ms":300,"steps":2,"tag":"a"}}`)
	send(`{"id":2,"arguments":{"ms":300,"tag":"b"}}`)
	send(`{"id":"c","arguments":{"ms":0,"tag":"c"}}`)
	send(`{"id":"c","arguments":{"ms":0}}`)
	send(`{"id":"d","arguments":{"ms":"soon"}}`)
	send(`not json`)
	send(`{"arguments":{}}`)
	send(`{"id":"zz","cancel":true}`)
	events := map[string][]string{}
	var errs []string
	for len(events[`"a"`]) == 0 || last(events[`"a"`]) != "result" || last(events["2"]) != "result" || last(events[`"c"`]) != "error" {
		var m struct {
			ID    json.RawMessage
			Event string
			Data  map[string]any
			Error *apiError
		}
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			t.Fatalf("reading: %v; so far %v %v", err, events, errs)
		}
		id := string(m.ID)
		events[id] = append(events[id], m.Event)
		if m.Event == "error" {
			errs = append(errs, id+" "+m.Error.Code)
		}
		if id == `"c"` && m.Event == "started" {
			<-u.started // c runs upstream...
			<-u.started
			<-u.started
			send(`{"id":"c","cancel":true}`) // ...and is cancelled there
		}
	}
	if got := strings.Join(events[`"a"`], " "); got != "started progress progress result" {
		t.Fatalf("a: %s", got)
	}
	if got := strings.Join(events["2"], " "); got != "started result" {
		t.Fatalf("2: %s", got)
	}
	want := []string{`"c" bad_request`, `"d" invalid_arguments`, `null bad_request`, `null bad_request`, `"zz" not_found`, `"c" cancelled`}
	if strings.Join(errs, ",") != strings.Join(want, ",") {
		t.Fatalf("errors %v, want %v", errs, want)
	}
	u.waitMethod(t, "notifications/cancelled")
	if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// last returns the last of ss, or "".
func last(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[len(ss)-1]
}
