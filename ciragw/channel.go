package ciragw

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// recvBuffer is the size of the receive buffers channels share through
// recvBuffers: a channel holds one only while it has unread data, so the
// thousands of idle keep-alive channels of a busy gateway hold none, and a
// WS-Man answer arriving in a few CHANNEL_DATA fills one buffer instead of
// growing its own. More unread data than that grows past it.
const recvBuffer = 8 << 10

var recvBuffers = sync.Pool{New: func() any { return new([recvBuffer]byte) }}

// maxSendPacket caps one CHANNEL_DATA we send. The console sends at most 4096
// bytes per message and works with AMT (§5.2); MPS sends whole credits.
const maxSendPacket = 4096

// window counts the bytes one side may still send on a channel. It shares
// the channel's mutex: add and reserve are called with it held.
type window struct {
	cond  *sync.Cond
	avail uint32
}

// add grants n more bytes, refusing a grant that would overflow the counter.
func (w *window) add(n uint32) bool {
	if uint64(w.avail)+uint64(n) > math.MaxUint32 {
		return false
	}
	w.avail += n
	w.cond.Broadcast()
	return true
}

// reserve waits until stop reports an error or credit is available, then
// takes up to want bytes of it.
func (w *window) reserve(want uint32, stop func() error) (uint32, error) {
	for {
		if err := stop(); err != nil {
			return 0, err
		}
		if w.avail > 0 {
			n := min(want, w.avail)
			w.avail -= n
			return n, nil
		}
		w.cond.Wait()
	}
}

// deadline is a net.Conn deadline over a sync.Cond: a timer marks it expired
// and wakes the waiters; gen discards the callbacks of replaced timers.
type deadline struct {
	timer   *time.Timer
	gen     uint64
	expired bool
}

func (d *deadline) set(mu *sync.Mutex, cond *sync.Cond, t time.Time) {
	mu.Lock()
	defer mu.Unlock()
	d.stop()
	switch {
	case t.IsZero():
	case !t.After(time.Now()):
		d.expired = true
		cond.Broadcast()
	default:
		gen := d.gen
		d.timer = time.AfterFunc(time.Until(t), func() {
			mu.Lock()
			defer mu.Unlock()
			if d.gen == gen {
				d.expired = true
				cond.Broadcast()
			}
		})
	}
}

func (d *deadline) stop() {
	d.gen++
	d.expired = false
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

type chanState uint8

const (
	chanOpening chanState = iota
	chanOpen
	chanClosed
)

// channel is one APF channel to an AMT port, seen as a net.Conn. Reads are
// served from a buffer bounded by the window we advertised; writes wait for
// AMT's window. The mux feeds it through the lower-case methods.
type channel struct {
	x      *mux
	id     uint32 // our channel id, AMT's recipient id
	port   uint16
	window uint32 // receive window we advertise

	wmu sync.Mutex // keeps concurrent Writes whole

	mu         sync.Mutex
	readable   sync.Cond
	writable   sync.Cond
	send       window
	state      chanState
	remoteID   uint32
	opened     chan error // the open outcome, sent once
	closeSent  bool
	userClosed bool

	buf       []byte // unread bytes are buf[off:]
	off       int
	recvAvail uint32 // bytes AMT may send before our next WINDOW_ADJUST
	consumed  uint32 // bytes read but not yet returned to AMT
	rerr      error  // returned by Read once buf is drained
	werr      error  // returned by Write
	rdl, wdl  deadline

	lastActive atomic.Int64 // unix nanoseconds of the last data either way
}

func newChannel(x *mux, id uint32, port uint16, window uint32) *channel {
	c := &channel{x: x, id: id, port: port, window: window, recvAvail: window, opened: make(chan error, 1)}
	c.readable.L = &c.mu
	c.writable.L = &c.mu
	c.send.cond = &c.writable
	c.touch()
	return c
}

func (c *channel) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// confirm handles CHANNEL_OPEN_CONFIRMATION. It reports false if the channel
// was not waiting for one.
func (c *channel) confirm(remoteID, window uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != chanOpening {
		return false
	}
	c.state = chanOpen
	c.remoteID = remoteID
	c.send.add(window)
	c.x.cfg.m.channelsOpen.Inc()
	c.opened <- nil
	return true
}

// refuse handles CHANNEL_OPEN_FAILURE.
func (c *channel) refuse(reason apf.OpenFailureReason) {
	c.finish(&OpenError{GUID: c.x.guid, Port: c.port, Reason: reason}, nil)
}

// adjust handles CHANNEL_WINDOW_ADJUST.
func (c *channel) adjust(n uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.send.add(n) {
		return fmt.Errorf("window adjust by %d overflows the send window", n)
	}
	return nil
}

// deliver handles CHANNEL_DATA; data is copied, its buffer is reused.
func (c *channel) deliver(data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != chanOpen {
		return nil
	}
	if uint64(len(data)) > uint64(c.recvAvail) {
		return fmt.Errorf("AMT sent %d bytes with %d left in the window", len(data), c.recvAvail)
	}
	c.recvAvail -= uint32(len(data)) //nolint:gosec // G115: len(data) <= recvAvail, a uint32, checked above
	if c.buf == nil && len(data) <= recvBuffer {
		c.buf = recvBuffers.Get().(*[recvBuffer]byte)[:0]
	}
	if c.off > 0 && len(c.buf)+len(data) > cap(c.buf) {
		c.buf = c.buf[:copy(c.buf, c.buf[c.off:])]
		c.off = 0
	}
	c.buf = append(c.buf, data...)
	c.touch()
	c.readable.Broadcast()
	return nil
}

// releaseBuf drops the emptied receive buffer, back to recvBuffers when it
// came from there. c.mu is held.
func (c *channel) releaseBuf() {
	if cap(c.buf) == recvBuffer {
		recvBuffers.Put((*[recvBuffer]byte)(c.buf[:recvBuffer]))
	}
	c.buf, c.off = nil, 0
}

// shut ends the channel (see finish) and reports whether a CHANNEL_CLOSE is
// still owed to AMT, and the id to send it to.
func (c *channel) shut(rerr, werr error) (owed bool, remote uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	owed = c.state == chanOpen && !c.closeSent
	c.closeSent = true
	c.finishLocked(rerr, werr)
	return owed, c.remoteID
}

// finish ends the channel: Read returns rerr once buffered data is drained,
// Write returns werr (rerr if nil). While opening, the opener receives rerr.
func (c *channel) finish(rerr, werr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishLocked(rerr, werr)
}

func (c *channel) finishLocked(rerr, werr error) {
	switch c.state {
	case chanOpening:
		c.opened <- rerr
	case chanOpen:
		c.x.cfg.m.channelsOpen.Dec()
	}
	c.state = chanClosed
	if c.rerr == nil {
		c.rerr = rerr
	}
	if c.werr == nil {
		c.werr = cmp.Or(werr, rerr)
	}
	c.rdl.stop()
	c.wdl.stop()
	c.readable.Broadcast()
	c.writable.Broadcast()
}

// Read implements net.Conn.
func (c *channel) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	for c.off == len(c.buf) {
		switch {
		case c.rerr != nil:
			err := c.rerr
			c.mu.Unlock()
			return 0, err
		case c.rdl.expired:
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		c.readable.Wait()
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	if c.off == len(c.buf) {
		c.releaseBuf()
	}
	c.consumed += uint32(n) //nolint:gosec // G115: consumed+buffered <= window (a uint32), deliver enforces it
	var grant uint32
	// Give the window back once half of it has been read, as MPS does
	// (§5.1), but counted on what the user consumed, not on what arrived.
	if c.state == chanOpen && c.consumed >= c.window/2 {
		grant, c.consumed = c.consumed, 0
		c.recvAvail += grant
	}
	remote := c.remoteID
	c.mu.Unlock()
	c.touch()
	if grant > 0 {
		// A failure here ends the session, which the next Read reports.
		_ = c.x.out.send(apf.ChannelWindowAdjust{RecipientChannel: remote, BytesToAdd: grant})
	}
	return n, nil
}

// Write implements net.Conn. It blocks while AMT's window is exhausted. The
// count it returns is of bytes in CHANNEL_DATA messages the transport wrote
// whole: 0 on failure means AMT received none of p, which is what the WS-Man
// client's write outcome (wsman.NotWritten) is made of.
func (c *channel) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		c.mu.Lock()
		n, err := c.send.reserve(uint32(min(len(p), maxSendPacket)), func() error {
			switch {
			case c.werr != nil:
				return c.werr
			case c.wdl.expired:
				return os.ErrDeadlineExceeded
			}
			return nil
		})
		remote := c.remoteID
		c.mu.Unlock()
		if err != nil {
			return written, err
		}
		if err := c.x.out.send(apf.ChannelData{RecipientChannel: remote, Data: p[:n]}); err != nil {
			return written, err
		}
		c.touch()
		written += int(n)
		p = p[n:]
	}
	return written, nil
}

// Close implements net.Conn: it sends CHANNEL_CLOSE and forgets the channel.
// Late messages from AMT for it are ignored (ids are not reused).
func (c *channel) Close() error {
	c.mu.Lock()
	if c.userClosed {
		c.mu.Unlock()
		return nil
	}
	c.userClosed = true
	c.rerr, c.werr = net.ErrClosed, net.ErrClosed
	c.releaseBuf()
	c.mu.Unlock()
	owed, remote := c.shut(net.ErrClosed, net.ErrClosed)
	c.x.forget(c.id)
	if owed {
		return c.x.out.send(apf.ChannelClose{RecipientChannel: remote})
	}
	return nil
}

func (c *channel) LocalAddr() net.Addr { return c.x.out.localAddr() }

func (c *channel) RemoteAddr() net.Addr {
	return apfAddr(c.x.guid + ":" + strconv.Itoa(int(c.port)))
}

func (c *channel) SetDeadline(t time.Time) error {
	c.rdl.set(&c.mu, &c.readable, t)
	c.wdl.set(&c.mu, &c.writable, t)
	return nil
}

func (c *channel) SetReadDeadline(t time.Time) error {
	c.rdl.set(&c.mu, &c.readable, t)
	return nil
}

func (c *channel) SetWriteDeadline(t time.Time) error {
	c.wdl.set(&c.mu, &c.writable, t)
	return nil
}

// apfAddr names the far end of a channel: "<guid>:<port>" on network "apf".
type apfAddr string

func (apfAddr) Network() string  { return "apf" }
func (a apfAddr) String() string { return string(a) }
