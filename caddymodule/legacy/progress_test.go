package legacy

import (
	"testing"

	"github.com/caddy-stata/caddy-stata/caddymodule/mcpmsg"
)

func TestProgressInventedThenUpstream(t *testing.T) {
	var p progress
	if v := p.invent(); v != 1 {
		t.Fatalf("first invented %v", v)
	}
	p.invent() // 2
	total := 10.0
	pp := mcpmsg.ProgressParams{Progress: 1, Total: &total}
	if !p.fromUpstream(&pp) || pp.Progress != 3 || *pp.Total != 12 {
		t.Fatalf("shifted to %v of %v, want 3 of 12", pp.Progress, *pp.Total)
	}
	pp = mcpmsg.ProgressParams{Progress: 5}
	if !p.fromUpstream(&pp) || pp.Progress != 7 {
		t.Fatalf("later value %v, want 7", pp.Progress)
	}
	if v := p.invent(); v != 8 {
		t.Fatalf("invented after upstream %v, want 8", v)
	}
}

func TestProgressUpstreamUnchangedWhileIncreasing(t *testing.T) {
	var p progress
	for _, v := range []float64{0.5, 1, 7} {
		pp := mcpmsg.ProgressParams{Progress: v}
		if p.fromUpstream(&pp) || pp.Progress != v {
			t.Fatalf("value %v changed to %v", v, pp.Progress)
		}
	}
	pp := mcpmsg.ProgressParams{Progress: 7}
	if !p.fromUpstream(&pp) || pp.Progress != 8 {
		t.Fatalf("repeated value became %v, want 8", pp.Progress)
	}
	if !p.upstream {
		t.Fatal("upstream progress not noted")
	}
}
