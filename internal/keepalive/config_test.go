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

// TestConfigWarnings pins each setting that loads but is most likely wrong,
// and that the defaults and the settings just inside the limits say nothing.
func TestConfigWarnings(t *testing.T) {
	if w := DefaultConfig().Warnings(); len(w) != 0 {
		t.Fatalf("the defaults warn: %q", w)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" for no warning
	}{
		{"interval a minute", func(c *Config) { c.Interval = time.Minute }, "interval 1m0s is a minute or more"},
		{"interval 2 minutes", func(c *Config) { c.Interval = 2 * time.Minute }, "interval 2m0s is a minute or more"},
		{"interval just under a minute", func(c *Config) { c.Interval = 59 * time.Second }, ""},
		{"interval 50ms", func(c *Config) { c.Interval = 50 * time.Millisecond }, "interval 50ms is under 100ms"},
		{"interval 100ms", func(c *Config) { c.Interval = 100 * time.Millisecond }, ""},
		{"grace a minute", func(c *Config) { c.Grace = time.Minute }, "grace 1m0s is a minute or more"},
		{"grace 59s", func(c *Config) { c.Grace = 59 * time.Second }, ""},
		{"grace 0", func(c *Config) { c.Grace = 0 }, ""},
	} {
		c := DefaultConfig()
		tt.mutate(&c)
		w := c.Warnings()
		switch {
		case tt.want == "" && len(w) != 0:
			t.Errorf("%s: warns %q", tt.name, w)
		case tt.want != "" && (len(w) != 1 || !strings.Contains(w[0], tt.want)):
			t.Errorf("%s: got %q, want one warning with %q", tt.name, w, tt.want)
		}
	}
	c := DefaultConfig()
	c.Interval, c.Grace = 2*time.Minute, 2*time.Minute
	if w := c.Warnings(); len(w) != 2 {
		t.Errorf("interval and grace both too long: got %q, want two warnings", w)
	}
}
