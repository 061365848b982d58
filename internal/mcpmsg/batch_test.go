package mcpmsg

import (
	"errors"
	"testing"
)

func TestParseBatch(t *testing.T) {
	msgs, invalid, err := ParseBatch([]byte(` [{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}, 7, {"jsonrpc":"2.0","method":"notifications/initialized"}]`))
	if err != nil || len(msgs) != 3 || !msgs[0].IsToolCall() || invalid[1] == nil || invalid[0] != nil || msgs[2].IsRequest() {
		t.Fatalf("%+v %v %v", msgs, invalid, err)
	}
	if _, _, err := ParseBatch([]byte(`[]`)); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty: %v", err)
	}
	if _, _, err := ParseBatch([]byte(`{"a":1}`)); err == nil {
		t.Fatal("an object parsed as a batch")
	}
	if !IsBatch([]byte("\n [1]")) || IsBatch([]byte(`{"a":[1]}`)) || IsBatch(nil) {
		t.Fatal("IsBatch")
	}
	got, err := ParseAny([]byte(`[{"jsonrpc":"2.0","id":1,"result":{}},"x",{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"m"}}]`))
	if err != nil || len(got) != 2 || !got[0].IsResponse() || !got[1].IsResponse() {
		t.Fatalf("ParseAny batch: %+v %v", got, err)
	}
	if got, err := ParseAny([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)); err != nil || len(got) != 1 {
		t.Fatalf("ParseAny one: %+v %v", got, err)
	}
}
