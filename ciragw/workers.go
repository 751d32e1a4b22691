package ciragw

import (
	"slices"
	"sync"
	"time"
)

// workers run a session's steps (its handshakes, then each wake-up from
// park) on goroutines whose stacks have already grown to what those steps
// need. A new goroutine starts on 2 KiB and copies its stack at each
// doubling, up to the 8 KiB a TLS read takes and more for a handshake; with a
// keepalive per device every 30 s, those copies were a tenth of an idle
// gateway's CPU. A parked session holds no goroutine (poller_linux.go); a
// wake-up is handed to a worker.
//
// Idle workers wait last in, first out, so the pool keeps the few that the
// load needs busy and the others expire after linger.
type workers struct {
	linger time.Duration

	mu     sync.Mutex
	idle   []*worker
	closed bool
	wg     sync.WaitGroup
}

// A worker's jobs channel holds at most the one job handed to it after it
// was taken off the idle list, so a send never blocks.
type worker struct{ jobs chan func() }

func newWorkers(linger time.Duration) *workers { return &workers{linger: linger} }

// do runs f on the worker that went idle last, or on a new one when none is
// idle: it never waits.
func (p *workers) do(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.jobs <- f
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.work(&worker{jobs: make(chan func(), 1)}, f)
}

func (p *workers) work(w *worker, f func()) {
	defer p.wg.Done()
	expire := time.NewTimer(p.linger)
	defer expire.Stop()
	for f != nil {
		f()
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		expire.Reset(p.linger)
		select {
		case f = <-w.jobs:
			continue
		case <-expire.C:
		}
		p.mu.Lock()
		if i := slices.Index(p.idle, w); i >= 0 {
			p.idle = slices.Delete(p.idle, i, i+1)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		f = <-w.jobs // do took it off the list as it expired: its job is on the way
	}
}

// close ends the idle workers and waits for the busy ones to finish; call it
// once no more jobs come.
func (p *workers) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, w := range idle {
		close(w.jobs)
	}
	p.wg.Wait()
}
