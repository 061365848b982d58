package mcpmsg

import "testing"

func TestProgressInventedThenUpstream(t *testing.T) {
	var p ProgressSeq
	if v := p.Invent(); v != 1 {
		t.Fatalf("first invented %v", v)
	}
	p.Invent() // 2
	total := 10.0
	pp := ProgressParams{Progress: 1, Total: &total}
	if !p.FromUpstream(&pp) || pp.Progress != 3 || *pp.Total != 12 {
		t.Fatalf("shifted to %v of %v, want 3 of 12", pp.Progress, *pp.Total)
	}
	pp = ProgressParams{Progress: 5}
	if !p.FromUpstream(&pp) || pp.Progress != 7 {
		t.Fatalf("later value %v, want 7", pp.Progress)
	}
	if v := p.Invent(); v != 8 {
		t.Fatalf("invented after upstream %v, want 8", v)
	}
}

func TestProgressUpstreamUnchangedWhileIncreasing(t *testing.T) {
	var p ProgressSeq
	for _, v := range []float64{0.5, 1, 7} {
		pp := ProgressParams{Progress: v}
		if p.FromUpstream(&pp) || pp.Progress != v {
			t.Fatalf("value %v changed to %v", v, pp.Progress)
		}
	}
	pp := ProgressParams{Progress: 7}
	if !p.FromUpstream(&pp) || pp.Progress != 8 {
		t.Fatalf("repeated value became %v, want 8", pp.Progress)
	}
	if !p.Upstream {
		t.Fatal("upstream progress not noted")
	}
}
