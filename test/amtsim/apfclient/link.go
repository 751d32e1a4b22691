package apfclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// link is one TLS connection to the gateway. Its run goroutine reads and
// dispatches; writes are serialised by wmu.
type link struct {
	c    *Client
	raw  net.Conn
	conn *tls.Conn

	wmu sync.Mutex

	// Owned by the run goroutine.
	nextPort    int // index in Ports of the next tcpip-forward
	established bool

	mu       sync.Mutex
	chans    map[uint32]*channel
	nextID   uint32
	interval time.Duration // keepalive interval in force
	kaReset  chan struct{} // tells the keepalive loop the interval changed
	done     chan struct{} // closed when the link ends
}

// connect runs one connection until it ends and reports whether its
// handshake completed.
func (c *Client) connect(ctx context.Context) (bool, error) {
	c.update(func(s *State) { s.Attempts++ })
	deadline := time.Now().Add(c.cfg.HandshakeTimeout)
	d := net.Dialer{Deadline: deadline}
	if c.cfg.LocalAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.cfg.LocalAddr)}
		d.Control = bindAddressOnly
	}
	raw, err := d.DialContext(ctx, "tcp", c.cfg.ServerAddr)
	if err != nil {
		return false, fmt.Errorf("apfclient: dialing %s: %w", c.cfg.ServerAddr, err)
	}
	c.setConn(raw)
	defer c.setConn(nil)
	l := &link{c: c, raw: raw, conn: tls.Client(raw, c.tlsConf), chans: make(map[uint32]*channel),
		nextID: 0x10, interval: c.cfg.KeepaliveInterval, kaReset: make(chan struct{}, 1), done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	err = l.run(deadline)
	_ = raw.Close()
	close(l.done)
	l.endChannels()
	return l.established, err
}

func (l *link) run(deadline time.Time) error {
	if err := l.raw.SetDeadline(deadline); err != nil {
		return err
	}
	if err := l.conn.Handshake(); err != nil {
		return fmt.Errorf("apfclient: TLS handshake with %s: %w", l.c.cfg.ServerAddr, err)
	}
	if err := l.raw.SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	// AMT (and the MPS simulator) sends these two back to back (§3, §13).
	if err := l.send(protocolVersion(l.c.uuid, triggerPeriodic)); err != nil {
		return err
	}
	if err := l.send(serviceRequest(serviceAuth)); err != nil {
		return err
	}
	rd := newInbound(l.conn)
	for {
		if l.established {
			// Three missed keepalive replies mean the server is gone.
			deadline = time.Now().Add(3 * l.keepaliveInterval())
		}
		if err := l.raw.SetReadDeadline(deadline); err != nil {
			return err
		}
		m, err := rd.next()
		if err != nil {
			return fmt.Errorf("apfclient: reading from server: %w", err)
		}
		if err := l.handle(m); err != nil {
			return err
		}
	}
}

func (l *link) send(b frame) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.raw.SetWriteDeadline(time.Now().Add(l.c.cfg.HandshakeTimeout)); err != nil {
		return err
	}
	if _, err := l.conn.Write(b); err != nil {
		_ = l.raw.Close()
		return fmt.Errorf("apfclient: writing message type 0x%02x: %w", b[0], err)
	}
	return nil
}

// handle plays AMT's side of §3 and of the channel protocol.
func (l *link) handle(m any) error {
	cfg := &l.c.cfg
	switch m := m.(type) {
	case serviceAccept:
		switch m.name {
		case serviceAuth:
			return l.send(userAuthPassword(cfg.Username, cfg.Password))
		case servicePortFwd:
			return l.forwardNext()
		}
		return fmt.Errorf("apfclient: SERVICE_ACCEPT for unrequested service %q", m.name)
	case authSuccess:
		return l.send(serviceRequest(servicePortFwd))
	case authFailure:
		return ErrAuthRefused
	case requestSuccess:
		if l.nextPort < len(cfg.Ports) {
			return l.forwardNext()
		}
		if !l.established {
			l.established = true
			l.c.update(func(s *State) {
				s.Connected = true
				s.Connects++
				s.LastDisconnect = 0
			})
			go l.keepalive()
		}
		return nil
	case requestFailure:
		return fmt.Errorf("apfclient: server refused tcpip-forward for port %d", cfg.Ports[l.nextPort-1])
	case keepaliveOptions:
		if m.interval > 0 {
			l.setKeepaliveInterval(time.Duration(m.interval) * time.Second)
		}
		return l.send(keepaliveOptionsReply(m.interval, m.timeout))
	case keepaliveReq:
		return l.send(keepaliveReply(m.cookie))
	case keepaliveRep:
		return nil
	case disconnect:
		l.c.update(func(s *State) { s.LastDisconnect = m.reason })
		return fmt.Errorf("apfclient: server sent DISCONNECT %s", m.reason)
	case channelOpen:
		return l.accept(m)
	case windowAdjustMsg:
		if ch := l.channel(m.recipient); ch != nil {
			ch.credit(m.n)
		}
		return nil
	case channelDataMsg:
		if ch := l.channel(m.recipient); ch != nil {
			if err := ch.receive(m.data); err != nil {
				l.c.log.Warn().Err(err).Msg("closing channel")
				return ch.Close()
			}
		}
		return nil
	case channelCloseMsg:
		if ch := l.channel(m.recipient); ch != nil {
			l.forget(m.recipient)
			if ch.remoteClosed() {
				return l.send(channelClose(ch.remote))
			}
		}
		return nil
	}
	return fmt.Errorf("apfclient: unexpected %T from server", m)
}

func (l *link) forwardNext() error {
	port := l.c.cfg.Ports[l.nextPort]
	l.nextPort++
	return l.send(tcpipForward(uint32(port)))
}

func (l *link) keepaliveInterval() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.interval
}

func (l *link) setKeepaliveInterval(d time.Duration) {
	l.mu.Lock()
	l.interval = d
	l.mu.Unlock()
	select {
	case l.kaReset <- struct{}{}:
	default:
	}
}

// keepalive sends KEEPALIVE_REQUEST every interval, as AMT does (§6).
func (l *link) keepalive() {
	cookie := uint32(0)
	t := time.NewTicker(l.keepaliveInterval())
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-l.kaReset:
			t.Reset(l.keepaliveInterval())
		case <-t.C:
			cookie++
			if l.send(keepaliveRequest(cookie)) != nil {
				return
			}
		}
	}
}

// accept answers a server CHANNEL_OPEN: WS-Man on 16992 goes to the handler;
// other ports fail with CONNECT_FAILED, other channel types with
// UNKNOWN_CHANNEL_TYPE (§2.3 reason codes).
func (l *link) accept(m channelOpen) error {
	cfg := &l.c.cfg
	switch {
	case m.chanType != chanForwarded && m.chanType != chanDirect:
		return l.send(openFailure(m.sender, openUnknownType))
	case m.targetPort != portWSMan || cfg.Handler == nil:
		return l.send(openFailure(m.sender, openConnectFailed))
	}
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	ch := newChannel(l, id, m.sender, m.window, cfg.Window)
	l.chans[id] = ch
	l.mu.Unlock()
	if err := l.send(openConfirmation(m.sender, id, cfg.Window)); err != nil {
		return err
	}
	go func() {
		defer ch.Close()
		cfg.Handler(ch)
	}()
	return nil
}

// channel returns our channel with the given id; nil for one already closed here
// (a late message, not an error).
func (l *link) channel(id uint32) *channel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chans[id]
}

func (l *link) forget(id uint32) {
	l.mu.Lock()
	delete(l.chans, id)
	l.mu.Unlock()
}

func (l *link) endChannels() {
	l.mu.Lock()
	chans := l.chans
	l.chans = map[uint32]*channel{}
	l.mu.Unlock()
	for _, ch := range chans {
		ch.end(errLinkDown)
	}
}

var errLinkDown = errors.New("apfclient: CIRA link down")
