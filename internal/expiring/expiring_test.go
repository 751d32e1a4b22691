package expiring

import (
	"testing"
	"time"
)

func TestEntriesExpire(t *testing.T) {
	m := New[string, int](4)
	t0 := time.Unix(1000, 0)
	m.Put("a", 1, t0.Add(time.Second))
	if v, ok := m.Get("a", t0); !ok || v != 1 {
		t.Fatalf("Get before expiry = %d, %v; want 1, true", v, ok)
	}
	if _, ok := m.Get("a", t0.Add(time.Second)); ok {
		t.Fatal("Get at the expiry found the entry")
	}
	if _, ok := m.Get("b", t0); ok {
		t.Fatal("Get of a key never stored found it")
	}
}

func TestNeverGrowsPastItsSize(t *testing.T) {
	m := New[int, int](3)
	until := time.Unix(2000, 0)
	for i := range 100 {
		m.Put(i, i, until)
		if len(m.m) > 3 {
			t.Fatalf("after %d puts the map holds %d entries; want at most 3", i+1, len(m.m))
		}
		if v, ok := m.Get(i, time.Unix(0, 0)); !ok || v != i {
			t.Fatalf("the entry just put is gone: %d, %v", v, ok)
		}
	}
	// Replacing a key in a full map keeps the others.
	m = New[int, int](2)
	m.Put(1, 1, until)
	m.Put(2, 2, until)
	m.Put(2, 3, until)
	if _, ok := m.Get(1, time.Unix(0, 0)); !ok {
		t.Fatal("replacing a key emptied the map")
	}
}
