package ciragw

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// disconnectWriteTimeout bounds the courtesy DISCONNECT written before a
// connection is dropped.
const disconnectWriteTimeout = time.Second

// link is what the mux needs of the session under it: writing one whole
// message, whether the connection is on its way out, its local address, and
// log events naming the device. (*session) is one: the transport gives the
// first three.
type link interface {
	send(m apf.Message) error
	closing() bool
	localAddr() net.Addr
	event(level zerolog.Level) *zerolog.Event
}

// transport moves whole APF messages over one connection, as ssh's
// transport moves packets: conn carries the bytes (TLS to a device, a pipe in
// tests), raw is the socket under it for deadlines and half-close. Writes
// come from the session's reader and from channel users, serialised by
// wlock; reads come from the session's reader only.
type transport struct {
	raw          net.Conn
	conn         net.Conn
	writeTimeout time.Duration
	m            *metrics

	wlock chan struct{} // write lock; a channel so that kill can wait for it with a timeout

	canDisconnect atomic.Bool // the stream can carry a DISCONNECT (TLS handshake done)
	killOnce      sync.Once
	lingerUntil   atomic.Int64 // unix nanoseconds; set once DISCONNECT was sent
	killed        func()       // after kill: resumes the reader if it is parked, so that it ends; may be nil
}

func newTransport(raw, conn net.Conn, writeTimeout time.Duration, m *metrics) transport {
	return transport{raw: raw, conn: conn, writeTimeout: writeTimeout, m: m, wlock: make(chan struct{}, 1)}
}

// readBefore reads with the read deadline d. The deadline lives in the
// runtime poller, so idle sessions own no timers of their own.
func (t *transport) readBefore(p []byte, d time.Time) (int, error) {
	if err := t.armRead(d); err != nil {
		return 0, err
	}
	return t.read(p)
}

// read reads with the read deadline as it stands.
func (t *transport) read(p []byte) (int, error) {
	n, err := t.conn.Read(p)
	t.m.bytesIn.Add(float64(n))
	return n, err
}

// armRead sets the read deadline d, unless kill has set its linger
// deadline, maybe just before ours.
func (t *transport) armRead(d time.Time) error {
	if err := t.raw.SetReadDeadline(d); err != nil {
		return err
	}
	if l := t.lingerUntil.Load(); l != 0 {
		return t.raw.SetReadDeadline(time.Unix(0, l))
	}
	return nil
}

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// send writes one message. A failed write ends the connection: after a write
// error or timeout the TLS stream is unusable. A message is written whole or
// not at all as far as the device can tell, since it acts only on complete
// messages (and TLS records).
func (t *transport) send(m apf.Message) error {
	bp := writeBufs.Get().(*[]byte)
	b := m.AppendTo((*bp)[:0])
	t.wlock <- struct{}{}
	err := t.raw.SetWriteDeadline(time.Now().Add(t.writeTimeout))
	if err == nil {
		var n int
		n, err = t.conn.Write(b)
		t.m.bytesOut.Add(float64(n))
	}
	<-t.wlock
	if cap(b) <= 2*maxSendPacket {
		*bp = b
		writeBufs.Put(bp)
	}
	if err != nil {
		t.kill(0)
		return fmt.Errorf("%w: writing to device: %w", ErrSessionClosed, err)
	}
	return nil
}

// kill ends the connection once, then wakes the reader if it is parked. With a reason it first writes DISCONNECT
// (waiting for a busy writer up to disconnectWriteTimeout) and half-closes:
// closing a socket with unread input resets it, and the device would lose
// the DISCONNECT, so the input is drained until the device closes or
// disconnectWriteTimeout passes. Without a reason, or if the DISCONNECT
// cannot be written, the socket is closed at once. Either way the reader
// ends; kill itself never blocks longer than disconnectWriteTimeout.
func (t *transport) kill(reason apf.DisconnectReason) {
	t.killOnce.Do(func() {
		if t.killed != nil {
			defer t.killed()
		}
		linger := time.Now().Add(disconnectWriteTimeout)
		if reason != 0 && t.canDisconnect.Load() && t.lockBefore(linger) {
			err := t.raw.SetWriteDeadline(linger)
			if err == nil {
				_, err = t.conn.Write(apf.Marshal(apf.Disconnect{Reason: reason}))
			}
			hc, ok := t.raw.(interface{ CloseWrite() error })
			if err == nil && ok && hc.CloseWrite() == nil {
				t.lingerUntil.Store(linger.UnixNano())
				err = t.raw.SetReadDeadline(linger)
			}
			<-t.wlock
			if err == nil && ok {
				return
			}
		}
		_ = t.raw.Close()
	})
}

// lockBefore takes the write lock unless deadline passes first.
func (t *transport) lockBefore(deadline time.Time) bool {
	select {
	case t.wlock <- struct{}{}:
		return true
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case t.wlock <- struct{}{}:
		return true
	case <-timer.C:
		return false
	}
}

// lingering reports whether kill is draining the input before closing.
func (t *transport) lingering() bool { return t.lingerUntil.Load() != 0 }

func (t *transport) closing() bool { return t.lingering() }

func (t *transport) localAddr() net.Addr { return t.raw.LocalAddr() }

// close drains what kill left lingering, then closes the socket.
func (t *transport) close() {
	if t.lingering() {
		_, _ = io.Copy(io.Discard, t.raw)
	}
	_ = t.raw.Close()
}
