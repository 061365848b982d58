package keepalive

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mutate := range map[string]func(*Config){
		"tool pattern":     func(c *Config) { c.Tools = []string{"["} },
		"grace":            func(c *Config) { c.Grace = -time.Second },
		"interval":         func(c *Config) { c.Interval = 0 },
		"max_duration":     func(c *Config) { c.MaxDuration = -time.Second },
		"max_request_body": func(c *Config) { c.MaxRequestBody = 0 },
		"max_held":         func(c *Config) { c.MaxHeld = 0 },
		"poll_after needs": func(c *Config) { c.PollAfter, c.Resume = time.Second, 0 },
		"retry":            func(c *Config) { c.Retry = 0 },
		"store_limit":      func(c *Config) { c.StoreLimit = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestConfigHolds(t *testing.T) {
	c := DefaultConfig()
	if !c.Holds("anything") {
		t.Fatal("no patterns must hold every tool")
	}
	c.Tools = []string{"stata_*", "fit"}
	for tool, want := range map[string]bool{"stata_run_file": true, "fit": true, "fitter": false, "sleep": false} {
		if got := c.Holds(tool); got != want {
			t.Errorf("Holds(%q) = %v", tool, got)
		}
	}
}
