package apfclient

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// maxChunk caps one CHANNEL_DATA the device sends.
const maxChunk = 4096

// channel is the device end of a server-opened channel, handed to the
// handler as a net.Conn. Flow control follows §5: the device never sends more
// than the server's window and grants its own window back as the handler
// reads. One condition variable covers every wait; deadline timers only wake
// it, and waiters compare the clock themselves.
type channel struct {
	l      *link
	id     uint32 // our id
	remote uint32 // the server's id
	window uint32 // our receive window

	wmu sync.Mutex // keeps concurrent Writes whole

	mu        sync.Mutex
	cond      sync.Cond
	in        []byte
	recvLeft  uint32 // bytes the server may still send
	unacked   uint32 // bytes read but not granted back
	credits   uint32 // bytes we may still send
	rerr      error  // after in is drained
	werr      error
	closed    bool
	closeSent bool
	rdl, wdl  time.Time
	// rtimer and wtimer wake waiters at rdl and wdl. One each, re-armed: a
	// connection sets a deadline per request, and a timer per call would
	// linger for the whole idle timeout.
	rtimer, wtimer *time.Timer
}

func newChannel(l *link, id, remote, sendWindow, recvWindow uint32) *channel {
	ch := &channel{l: l, id: id, remote: remote, window: recvWindow, recvLeft: recvWindow, credits: sendWindow}
	ch.cond.L = &ch.mu
	return ch
}

func (ch *channel) credit(n uint32) {
	ch.mu.Lock()
	ch.credits += n
	ch.cond.Broadcast()
	ch.mu.Unlock()
}

// receive queues data for Read; the channel keeps data, which the caller must not reuse.
func (ch *channel) receive(data []byte) error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return nil
	}
	if uint64(len(data)) > uint64(ch.recvLeft) {
		return fmt.Errorf("apfclient: server sent %d bytes with %d left in the window", len(data), ch.recvLeft)
	}
	ch.recvLeft -= uint32(len(data)) //nolint:gosec // G115: len(data) <= recvLeft, a uint32, checked above
	if len(ch.in) == 0 {
		ch.in = data
	} else {
		ch.in = append(ch.in, data...)
	}
	ch.cond.Broadcast()
	return nil
}

// remoteClosed marks the server's CHANNEL_CLOSE; it reports whether ours is
// still owed.
func (ch *channel) remoteClosed() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	owed := !ch.closeSent
	ch.closeSent = true
	ch.fail(io.EOF, net.ErrClosed)
	return owed
}

func (ch *channel) end(err error) {
	ch.mu.Lock()
	ch.fail(err, err)
	ch.mu.Unlock()
}

func (ch *channel) fail(rerr, werr error) {
	if ch.rerr == nil {
		ch.rerr = rerr
	}
	if ch.werr == nil {
		ch.werr = werr
	}
	ch.cond.Broadcast()
}

func expired(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }

func (ch *channel) Read(p []byte) (int, error) {
	ch.mu.Lock()
	for len(ch.in) == 0 {
		if ch.rerr != nil {
			defer ch.mu.Unlock()
			return 0, ch.rerr
		}
		if expired(ch.rdl) {
			ch.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		ch.cond.Wait()
	}
	n := copy(p, ch.in)
	ch.in = ch.in[n:]
	if len(ch.in) == 0 {
		ch.in = nil
	}
	ch.unacked += uint32(n) //nolint:gosec // G115: unacked+buffered <= window (a uint32), receive enforces it
	grant := uint32(0)
	if ch.unacked >= ch.window/2 && ch.rerr == nil {
		grant, ch.unacked = ch.unacked, 0
		ch.recvLeft += grant
	}
	ch.mu.Unlock()
	if grant > 0 {
		if err := ch.l.send(windowAdjust(ch.remote, grant)); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (ch *channel) Write(p []byte) (int, error) {
	ch.wmu.Lock()
	defer ch.wmu.Unlock()
	done := 0
	for done < len(p) {
		ch.mu.Lock()
		for ch.credits == 0 && ch.werr == nil && !expired(ch.wdl) {
			ch.cond.Wait()
		}
		if ch.werr != nil {
			defer ch.mu.Unlock()
			return done, ch.werr
		}
		if ch.credits == 0 {
			ch.mu.Unlock()
			return done, os.ErrDeadlineExceeded
		}
		n := uint32(min(len(p)-done, int(min(ch.credits, maxChunk))))
		ch.credits -= n
		ch.mu.Unlock()
		f := frameBufs.Get().(*frame)
		*f = channelData((*f)[:0], ch.remote, p[done:done+int(n)])
		err := ch.l.send(*f)
		frameBufs.Put(f)
		if err != nil {
			return done, err
		}
		done += int(n)
	}
	return done, nil
}

// frameBufs recycles CHANNEL_DATA frames, which link.send copies into a TLS record
// before returning; a fleet sends thousands a second.
var frameBufs = sync.Pool{New: func() any { return new(frame) }}

// Close sends CHANNEL_CLOSE unless the server closed first.
func (ch *channel) Close() error {
	ch.mu.Lock()
	if ch.closed {
		ch.mu.Unlock()
		return nil
	}
	ch.closed = true
	owed := !ch.closeSent
	ch.closeSent = true
	ch.in = nil
	ch.rerr, ch.werr = net.ErrClosed, net.ErrClosed
	ch.cond.Broadcast()
	if ch.rtimer != nil {
		ch.rtimer.Stop()
	}
	if ch.wtimer != nil {
		ch.wtimer.Stop()
	}
	ch.mu.Unlock()
	ch.l.forget(ch.id)
	select {
	case <-ch.l.done:
		return nil
	default:
	}
	if owed {
		return ch.l.send(channelClose(ch.remote))
	}
	return nil
}

func (ch *channel) LocalAddr() net.Addr  { return ch.l.raw.LocalAddr() }
func (ch *channel) RemoteAddr() net.Addr { return ch.l.raw.RemoteAddr() }

func (ch *channel) SetDeadline(t time.Time) error {
	_ = ch.SetReadDeadline(t)
	return ch.SetWriteDeadline(t)
}

func (ch *channel) SetReadDeadline(t time.Time) error {
	ch.setDeadline(&ch.rdl, &ch.rtimer, t)
	return nil
}

func (ch *channel) SetWriteDeadline(t time.Time) error {
	ch.setDeadline(&ch.wdl, &ch.wtimer, t)
	return nil
}

func (ch *channel) setDeadline(d *time.Time, timer **time.Timer, t time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	*d = t
	ch.cond.Broadcast()
	switch {
	case t.IsZero():
		if *timer != nil {
			(*timer).Stop()
		}
	case *timer == nil:
		*timer = time.AfterFunc(time.Until(t), ch.wake)
	default:
		(*timer).Reset(time.Until(t))
	}
}

func (ch *channel) wake() {
	ch.mu.Lock()
	ch.cond.Broadcast()
	ch.mu.Unlock()
}
