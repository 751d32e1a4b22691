//go:build linux

package ciragw

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// poller holds parked sessions without a goroutine each: their sockets wait
// in an epoll instance of its own, which itself waits in the runtime's
// poller, so one goroutine serves them all. A goroutine per parked session
// cost 2-3 KiB of stack and RSS, and the collector scans every goroutine's
// stack at each cycle: at 10,000 sessions that was half of its marking.
//
// A socket is armed one-shot: after its event it stays silent until the
// session parks again, so one wake-up hands it to exactly one worker. Every
// change of a session between parked and not happens under mu, by park (the
// session's own goroutine), by an event or the idle sweep (the poller's
// goroutine), or by unpark (kill, from anywhere).
type poller struct {
	epfd   int
	file   *os.File // epfd, registered with the runtime's poller
	rc     syscall.RawConn
	resume func(*session) // hands a woken session to a worker
	every  time.Duration
	done   chan struct{}

	mu     sync.Mutex
	slots  []parkSlot // by session slot; slot 0 is never used, so 0 means none
	free   []uint32
	closed bool
}

// parkSlot is one session's place in the poller. gen tells an event of this
// park from one of an earlier park of the slot (its session's or a session
// that held the slot before).
type parkSlot struct {
	s        *session
	gen      uint32
	parked   bool
	deadline int64 // unix nanoseconds: the session's idle deadline
}

// pollerEvents is how many readiness events one wake-up takes at most.
const pollerEvents = 256

func newPoller(resume func(*session), every time.Duration) (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ciragw: creating the epoll instance for parked sessions: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("ciragw: epoll instance: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ciragw-parked")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ciragw: epoll instance: %w", err)
	}
	// A descriptor the runtime cannot poll would make every wait below fail at once.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ciragw: epoll instance is not pollable: %w", err)
	}
	p := &poller{epfd: fd, file: f, rc: rc, resume: resume, every: every, done: make(chan struct{}),
		slots: make([]parkSlot, 1)}
	go p.run()
	return p, nil
}

// park arms s's socket and leaves s to the poller until the socket turns
// readable, its idle deadline passes or unpark; the caller must not touch s
// afterwards. A session whose socket is closed, or is being killed, is
// resumed at once; one whose socket cannot be armed never parks again.
func (p *poller) park(s *session, idle time.Time) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		s.rc = nil
		p.resume(s)
		return
	}
	if s.slot == 0 {
		if n := len(p.free); n > 0 {
			s.slot = p.free[n-1]
			p.free = p.free[:n-1]
		} else {
			s.slot = uint32(len(p.slots)) //nolint:gosec // G115: one slot per session, far below 2^32
			p.slots = append(p.slots, parkSlot{})
		}
	}
	e := &p.slots[s.slot]
	e.s = s
	e.gen++
	e.deadline = idle.UnixNano()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd: int32(s.slot), Pad: int32(e.gen)} //nolint:gosec // G115: the slot and generation travel as the event's 64 bits
	var armErr error
	closedErr := s.rc.Control(func(fd uintptr) {
		if s.armed {
			if armErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev); armErr != syscall.ENOENT {
				return
			}
		}
		if armErr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); armErr == nil {
			s.armed = true
		}
	})
	e.parked = closedErr == nil && armErr == nil
	p.mu.Unlock()
	switch {
	case closedErr != nil:
		p.resume(s) // the read that follows finds the socket closed
	case armErr != nil:
		s.rc = nil // waits in Read from now on
		s.event(zerolog.WarnLevel).Err(armErr).Msg("cannot park the session; it waits on a goroutine")
		p.resume(s)
	case s.lingering():
		p.unpark(s) // kill came before the socket was armed
	}
}

// unpark resumes s if it is parked.
func (p *poller) unpark(s *session) {
	if p == nil {
		return
	}
	p.mu.Lock()
	parked := s.slot != 0 && p.slots[s.slot].parked
	if parked {
		p.slots[s.slot].parked = false
	}
	p.mu.Unlock()
	if parked {
		p.resume(s)
	}
}

// release gives up s's slot as the session ends. Its socket stays in the
// epoll instance, disarmed, until end closes it; an event of it that was
// already on its way names the old generation and is ignored.
func (p *poller) release(s *session) {
	if s.slot == 0 {
		return
	}
	p.mu.Lock()
	p.slots[s.slot] = parkSlot{gen: p.slots[s.slot].gen}
	p.free = append(p.free, s.slot)
	s.slot = 0
	p.mu.Unlock()
}

// run waits for events and, every p.every, for idle deadlines, until close.
func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, pollerEvents)
	var due []*session
	next := time.Now().Add(p.every)
	_ = p.file.SetReadDeadline(next)
	for {
		n := 0
		err := p.rc.Read(func(fd uintptr) bool {
			var werr error
			for {
				n, werr = syscall.EpollWait(int(fd), events, 0)
				if werr != syscall.EINTR {
					break
				}
			}
			return n != 0 || werr != nil
		})
		due = p.ready(events[:max(n, 0)], due[:0])
		if now := time.Now(); !now.Before(next) {
			due = p.expired(now.UnixNano(), due)
			next = now.Add(p.every)
			_ = p.file.SetReadDeadline(next)
		}
		for i, s := range due {
			p.resume(s)
			due[i] = nil
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed
		}
	}
}

// ready takes the parked sessions named by events.
func (p *poller) ready(events []syscall.EpollEvent, due []*session) []*session {
	if len(events) == 0 {
		return due
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		slot, gen := uint32(ev.Fd), uint32(ev.Pad) //nolint:gosec // G115: see park
		if int(slot) >= len(p.slots) {
			continue
		}
		if e := &p.slots[slot]; e.parked && e.gen == gen {
			e.parked = false
			due = append(due, e.s)
		}
	}
	return due
}

// expired takes the parked sessions whose idle deadline has passed: the read
// that follows times out and ends them.
func (p *poller) expired(now int64, due []*session) []*session {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.slots {
		if e := &p.slots[i]; e.parked && e.deadline <= now {
			e.parked = false
			due = append(due, e.s)
		}
	}
	return due
}

// close stops the poller once no session is parked or can park any more.
func (p *poller) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.file.Close()
	<-p.done
}
