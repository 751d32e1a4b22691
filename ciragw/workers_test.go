package ciragw

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// goid is the calling goroutine's id, to tell which worker ran a job.
func goid() int {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf)
	id, _ := strconv.Atoi(string(f[1]))
	return id
}

func (p *workers) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// runOn runs a job on the pool and returns the id of the goroutine that ran it, once it has finished and that
// worker is idle again.
func runOn(t *testing.T, p *workers) int {
	t.Helper()
	before := p.idleCount()
	ran := make(chan int, 1)
	p.do(func() { ran <- goid() })
	id := <-ran
	require.Eventually(t, func() bool { return p.idleCount() == max(before, 1) }, 5*time.Second, time.Millisecond)
	return id
}

// An idle worker takes the next job, the one idle last first; a job never waits for a busy worker; idle workers
// end after linger, and close ends the rest once their jobs are done.
func TestWorkers(t *testing.T) {
	p := newWorkers(time.Hour)
	first := runOn(t, p)
	require.Equal(t, first, runOn(t, p), "the idle worker takes the next job")

	release := make(chan struct{})
	started := make(chan int, 2)
	busy := func() { started <- goid(); <-release }
	p.do(busy) // the idle worker
	p.do(busy) // a new one: no idle worker is left
	a, b := <-started, <-started
	require.NotEqual(t, a, b)
	require.True(t, a == first || b == first, "the idle worker took one of them")
	close(release)
	require.Eventually(t, func() bool { return p.idleCount() == 2 }, 5*time.Second, time.Millisecond)
	p.mu.Lock()
	last := p.idle[1]
	p.mu.Unlock()
	ran := make(chan int, 1)
	p.do(func() { ran <- goid() })
	<-ran
	p.mu.Lock()
	require.NotContains(t, p.idle[:1], last, "the worker idle last took the job")
	p.mu.Unlock()

	hold := make(chan struct{})
	p.do(func() { <-hold })
	closed := make(chan struct{})
	go func() { p.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a job was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not end the workers")
	}
	require.Zero(t, p.idleCount())

	short := newWorkers(10 * time.Millisecond)
	runOn(t, short)
	require.Eventually(t, func() bool { return short.idleCount() == 0 }, 5*time.Second, time.Millisecond,
		"an idle worker ends after linger")
	short.close()
}
