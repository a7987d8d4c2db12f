package cpu

import (
	"slices"
	"testing"
)

func TestFamily(t *testing.T) {
	var used []string
	f := Register("test", func(name string) { used = append(used, name) },
		Impl{"best", VNNI}, Impl{"mid", AVX2})
	want := "generic"
	switch {
	case Has(VNNI) && Allowed(VNNI):
		want = "best"
	case Has(AVX2) && Allowed(AVX2):
		want = "mid"
	}
	if f.Active() != want || len(used) != 1 || used[0] != want {
		t.Errorf("active %q (use called with %v), want %q", f.Active(), used, want)
	}
	av := f.Available()
	if av[0] != "generic" {
		t.Errorf("Available() = %v: the reference must come first", av)
	}
	if err := f.Select("generic"); err != nil || f.Active() != "generic" || used[len(used)-1] != "generic" {
		t.Errorf("Select(generic): %v, active %q", err, f.Active())
	}
	if err := f.Select("nonesuch"); err == nil {
		t.Error("Select(nonesuch): no error")
	}
	if !slices.Contains(Families(), f) {
		t.Error("Families() lacks the new family")
	}
}
