package mcpmsg

import "testing"

func TestProgressInventedThenUpstream(t *testing.T) {
	var p ProgressSeq
	if v, total := p.Invent(); v != 1 || total != nil {
		t.Fatalf("first invented %v of %v", v, total)
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
	if v, total := p.Invent(); v != 8 || total != nil {
		t.Fatalf("invented after upstream %v of %v, want 8 and no total (the upstream's last had none)", v, total)
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

// TestProgressInventedKeepsTheUpstreamTotal checks that once the server sends
// a total, invented values carry it and stay below it while increasing
// strictly, that the server's message is kept for them, and that the total is
// dropped when the gap can no longer be split.
func TestProgressInventedKeepsTheUpstreamTotal(t *testing.T) {
	var p ProgressSeq
	total := 20.0
	pp := ProgressParams{Progress: 5, Total: &total, Message: "line 5/20: regress y x"}
	if p.FromUpstream(&pp) {
		t.Fatal("an increasing value was shifted")
	}
	if p.Message != "line 5/20: regress y x" {
		t.Fatalf("message %q not kept", p.Message)
	}
	last := 5.0
	for i := 0; i < 50; i++ {
		v, tot := p.Invent()
		if tot == nil || *tot != 20 {
			t.Fatalf("tick %d: total %v, want 20", i, tot)
		}
		if v <= last || v >= 20 {
			t.Fatalf("tick %d: %v after %v, want strictly between it and 20", i, v, last)
		}
		last = v
	}
	pp = ProgressParams{Progress: 6, Total: &total}
	if !p.FromUpstream(&pp) || pp.Progress <= last || *pp.Total <= pp.Progress {
		t.Fatalf("upstream 6/20 after invented %v became %v/%v", last, pp.Progress, *pp.Total)
	}
	last = pp.Progress
	// Ticks until the gap to the total is too small to split: then the
	// total goes, and values still increase.
	for i := 0; i < 2000; i++ {
		v, tot := p.Invent()
		if v <= last {
			t.Fatalf("tick %d: %v after %v", i, v, last)
		}
		last = v
		if tot == nil {
			return
		}
		if v >= *tot {
			t.Fatalf("tick %d: %v at or above its total %v", i, v, *tot)
		}
	}
	t.Fatal("the total was never dropped")
}
