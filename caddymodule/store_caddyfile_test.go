package caddymodule

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestStoreCaddyfile checks the store subdirective's JSON.
func TestStoreCaddyfile(t *testing.T) {
	tests := []struct{ input, want string }{
		{"mcp_keepalive {\n\tstore memory\n}", `{"backend":"memory"}`},
		{"mcp_keepalive {\n\tstore redis localhost:6379\n}", `{"address":"localhost:6379","backend":"redis"}`},
		{`mcp_keepalive {
	store redis {
		address  redis://redis.internal:6379
		username caddy
		password {env.REDIS_PASSWORD}
		db       2
		prefix   team-a:
		timeout  500ms
	}
	resume 10m
}`, `{"address":"redis://redis.internal:6379","backend":"redis","db":2,"password":"{env.REDIS_PASSWORD}","prefix":"team-a:","timeout":500000000,"username":"caddy"}`},
	}
	for _, tt := range tests {
		var k KeepAlive
		if err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input)); err != nil {
			t.Fatalf("%s: %v", tt.input, err)
		}
		var got, want any
		if err := json.Unmarshal(k.StoreRaw, &got); err != nil {
			t.Fatalf("%s: %s: %v", tt.input, k.StoreRaw, err)
		}
		_ = json.Unmarshal([]byte(tt.want), &want)
		if gb, _ := json.Marshal(got); string(gb) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.input, gb, tt.want)
		}
	}
}

// TestStoreCaddyfileErrors checks that mistakes are refused with their line.
func TestStoreCaddyfileErrors(t *testing.T) {
	tests := []struct {
		input string
		want  []string
	}{
		{"mcp_keepalive {\n\tstore\n}", []string{"wrong argument count", "Testfile:2"}},
		{"mcp_keepalive {\n\tstore disk\n}", []string{"disk", "Testfile:2"}},
		{"mcp_keepalive {\n\tstore memory {\n\t\tsize 1\n\t}\n}", []string{"takes no options"}},
		{"mcp_keepalive {\n\tstore redis\n}", []string{"address is required", "Testfile:2"}},
		{"mcp_keepalive {\n\tstore redis {\n\t\tdb -1\n\t\taddress a:1\n\t}\n}", []string{"db: need a whole number", "Testfile:3"}},
		{"mcp_keepalive {\n\tstore redis {\n\t\taddress a:1\n\t\ttimeout 0\n\t}\n}", []string{"timeout", "Testfile:4"}},
		{"mcp_keepalive {\n\tstore redis {\n\t\taddress a:1\n\t\tcluster on\n\t}\n}", []string{"unrecognized subdirective 'cluster'", "Testfile:4"}},
		{"mcp_keepalive {\n\tstore redis {\n\t\taddress a:1\n\t\tprefix x\n\t\tprefix y\n\t}\n}", []string{"given twice", "Testfile:5"}},
		{"mcp_keepalive {\n\tstore redis a:1 {\n\t\taddress b:1\n\t}\n}", []string{"address given twice"}},
		{"mcp_keepalive {\n\tstore memory\n\tstore memory\n}", []string{"given twice", "Testfile:3"}},
	}
	for _, tt := range tests {
		var k KeepAlive
		err := k.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		wantErrAt(t, err, tt.want...)
	}
}

// TestRedisStoreConfig checks the defaults and that placeholders such as
// {env.REDIS_PASSWORD} are replaced.
func TestRedisStoreConfig(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "s3cret")
	t.Setenv("REDIS_HOST", "redis.internal")
	rs := RedisStore{Address: "{env.REDIS_HOST}:6379", Password: "{env.REDIS_PASSWORD}"}
	cfg := rs.config()
	if cfg.Address != "redis.internal:6379" || cfg.Password != "s3cret" || cfg.Prefix != "caddy-stata:" || cfg.Timeout != 2*time.Second || cfg.DB != 0 {
		t.Fatalf("config %+v", cfg)
	}
}
