package saves

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRanSince(t *testing.T) {
	now := time.Now()
	complete := &Record{Guest: "db", DomID: 7, Saved: &now}
	incomplete := &Record{Guest: "db", DomID: 7}
	restoring := &Record{Guest: "db", DomID: 7, Saved: &now, Restoring: &now}
	for _, tt := range []struct {
		name string
		rec  *Record
		seen Seen
		sure bool
		want bool
	}{
		{"another guest", complete, Seen{Name: "web", DomID: 9, Running: true}, true, false},
		{"a new domid after a complete save", complete, Seen{Name: "db", DomID: 9, Running: true}, false, true},
		{"the saved domid on its way out", complete, Seen{Name: "db", DomID: 7}, false, false},
		{"the saved domid running again", complete, Seen{Name: "db", DomID: 7, Running: true}, false, true},
		{"a save in flight, seen without the lock", incomplete, Seen{Name: "db", DomID: 7, Running: true}, false, false},
		{"a save that never ended, its guest resumed", incomplete, Seen{Name: "db", DomID: 7, Running: true}, true, true},
		{"a save that never ended, still suspended", incomplete, Seen{Name: "db", DomID: 7}, true, false},
		{"a save that never ended, a new domid", incomplete, Seen{Name: "db", DomID: 9}, true, true},
		{"a restore in flight, seen without the lock", restoring, Seen{Name: "db", DomID: 9, Running: true}, false, false},
		{"a restore that never recorded its end", restoring, Seen{Name: "db", DomID: 9, Running: true}, true, true},
	} {
		if got := tt.rec.RanSince(tt.seen, tt.sure); got != tt.want {
			t.Errorf("%s: RanSince = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestJudgeAndAside(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "save")}
	judge := func(want Verdict) {
		t.Helper()
		if v, _, err := s.Judge("db"); v != want || err != nil {
			t.Errorf("Judge = %v, %v; want %v", v, err, want)
		}
	}
	judge(NoImage)
	os.MkdirAll(s.Dir, 0o700)
	os.WriteFile(s.Image("db"), []byte("image"), 0o600)
	judge(Unrecorded)
	rec, err := s.BeginSave("db", 7, 96, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	judge(Incomplete)
	s.CompleteSave(rec, time.Now())
	judge(Restorable)
	s.BeginRestore(rec, time.Now())
	judge(Interrupted)
	os.WriteFile(filepath.Join(s.Dir, "db.record"), []byte("{not json"), 0o600)
	if v, _, err := s.Judge("db"); v != Unrecorded || err == nil {
		t.Errorf("a damaged record: %v, %v; want unrecorded and an error", v, err)
	}
	aside, err := s.Aside("db", "stale", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(aside); string(b) != "image" {
		t.Errorf("the image kept aside reads %q", b)
	}
	judge(NoImage)
	if _, err := os.Stat(filepath.Join(s.Dir, "db.record")); !os.IsNotExist(err) {
		t.Errorf("the record stays beside an image moved aside: %v", err)
	}
	// A second move the same second never overwrites the first.
	os.WriteFile(s.Image("db"), []byte("image 2"), 0o600)
	aside2, _ := s.Aside("db", "stale", time.Now())
	if aside2 == aside {
		t.Errorf("two images kept aside under one name %s", aside)
	}
	kept, err := s.List()
	if err != nil || len(kept) != 2 || kept[0].Kind != "stale" || kept[0].Bytes == 0 {
		t.Errorf("List = %+v, %v", kept, err)
	}
}
