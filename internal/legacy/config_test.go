package legacy

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mutate := range map[string]func(*Config){
		"tool pattern":     func(c *Config) { c.Tools = []string{"["} },
		"interval":         func(c *Config) { c.Interval = 0 },
		"max_duration":     func(c *Config) { c.MaxDuration = -time.Second },
		"max_request_body": func(c *Config) { c.MaxBody = 0 },
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
	if !c.holds("anything") {
		t.Fatal("no patterns must hold every tool")
	}
	c.Tools = []string{"stata_*", "fit"}
	for tool, want := range map[string]bool{"stata_run_file": true, "fit": true, "fitter": false, "sleep": false} {
		if got := c.holds(tool); got != want {
			t.Errorf("holds(%q) = %v", tool, got)
		}
	}
}
