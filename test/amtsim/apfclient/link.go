package apfclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/ciragw/apf"
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
	if err := l.send(apf.ProtocolVersion{Major: 1, Minor: 0, TriggerReason: apf.TriggerPeriodic, UUID: l.c.uuid}); err != nil {
		return err
	}
	if err := l.send(apf.ServiceRequest{Name: apf.ServiceAuth}); err != nil {
		return err
	}
	rd := apf.NewReader(l.conn, apf.Decoder{})
	for {
		if l.established {
			// Three missed keepalive replies mean the server is gone.
			deadline = time.Now().Add(3 * l.keepaliveInterval())
		}
		if err := l.raw.SetReadDeadline(deadline); err != nil {
			return err
		}
		m, err := rd.Next()
		if err != nil {
			return fmt.Errorf("apfclient: reading from server: %w", err)
		}
		if err := l.handle(m); err != nil {
			return err
		}
	}
}

func (l *link) send(m apf.Message) error {
	b := apf.Marshal(m)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.raw.SetWriteDeadline(time.Now().Add(l.c.cfg.HandshakeTimeout)); err != nil {
		return err
	}
	if _, err := l.conn.Write(b); err != nil {
		_ = l.raw.Close()
		return fmt.Errorf("apfclient: writing %s: %w", m.Type(), err)
	}
	return nil
}

// handle plays AMT's side of §3 and of the channel protocol.
func (l *link) handle(m apf.Message) error {
	cfg := &l.c.cfg
	switch m := m.(type) {
	case apf.ServiceAccept:
		switch m.Name {
		case apf.ServiceAuth:
			return l.send(apf.UserAuthRequest{Username: cfg.Username, Service: apf.ServicePortForward,
				Method: apf.MethodPassword, Password: cfg.Password})
		case apf.ServicePortForward:
			return l.forwardNext()
		}
		return fmt.Errorf("apfclient: SERVICE_ACCEPT for unrequested service %q", m.Name)
	case apf.UserAuthSuccess:
		return l.send(apf.ServiceRequest{Name: apf.ServicePortForward})
	case apf.UserAuthFailure:
		return ErrAuthRefused
	case apf.RequestSuccess:
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
	case apf.RequestFailure:
		return fmt.Errorf("apfclient: server refused tcpip-forward for port %d", cfg.Ports[l.nextPort-1])
	case apf.KeepaliveOptionsRequest:
		if m.Interval > 0 {
			l.setKeepaliveInterval(time.Duration(m.Interval) * time.Second)
		}
		return l.send(apf.KeepaliveOptionsReply(m))
	case apf.KeepaliveRequest:
		return l.send(apf.KeepaliveReply(m))
	case apf.KeepaliveReply:
		return nil
	case apf.Disconnect:
		l.c.update(func(s *State) { s.LastDisconnect = m.Reason })
		return fmt.Errorf("apfclient: server sent DISCONNECT %s", m.Reason)
	case apf.ChannelOpen:
		return l.accept(m)
	case apf.ChannelWindowAdjust, apf.ChannelData, apf.ChannelClose:
		return l.channelMessage(m)
	}
	return fmt.Errorf("apfclient: unexpected %s from server", m.Type())
}

func (l *link) forwardNext() error {
	port := l.c.cfg.Ports[l.nextPort]
	l.nextPort++
	return l.send(apf.GlobalRequest{Name: apf.RequestTCPIPForward, WantReply: true, Port: uint32(port)})
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
			if l.send(apf.KeepaliveRequest{Cookie: cookie}) != nil {
				return
			}
		}
	}
}

// accept answers a server CHANNEL_OPEN: WS-Man on 16992 goes to the handler;
// other ports fail with CONNECT_FAILED, other channel types with
// UNKNOWN_CHANNEL_TYPE (§2.3 reason codes).
func (l *link) accept(m apf.ChannelOpen) error {
	cfg := &l.c.cfg
	switch {
	case m.ChannelType != apf.ChannelForwardedTCPIP && m.ChannelType != apf.ChannelDirectTCPIP:
		return l.send(apf.ChannelOpenFailure{RecipientChannel: m.SenderChannel, Reason: apf.OpenUnknownChannelType})
	case m.TargetPort != uint32(apf.PortWSMan) || cfg.Handler == nil:
		return l.send(apf.ChannelOpenFailure{RecipientChannel: m.SenderChannel, Reason: apf.OpenConnectFailed})
	}
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	ch := newChannel(l, id, m.SenderChannel, m.InitialWindow, cfg.Window)
	l.chans[id] = ch
	l.mu.Unlock()
	if err := l.send(apf.ChannelOpenConfirmation{RecipientChannel: m.SenderChannel, SenderChannel: id,
		InitialWindow: cfg.Window, Reserved: apf.ReservedOpenField}); err != nil {
		return err
	}
	go func() {
		defer ch.Close()
		cfg.Handler(ch)
	}()
	return nil
}

func (l *link) channelMessage(m apf.Message) error {
	var id uint32
	switch m := m.(type) {
	case apf.ChannelWindowAdjust:
		id = m.RecipientChannel
	case apf.ChannelData:
		id = m.RecipientChannel
	case apf.ChannelClose:
		id = m.RecipientChannel
	}
	l.mu.Lock()
	ch := l.chans[id]
	l.mu.Unlock()
	if ch == nil {
		return nil // late message for a channel already closed here
	}
	switch m := m.(type) {
	case apf.ChannelWindowAdjust:
		ch.credit(m.BytesToAdd)
	case apf.ChannelData:
		if err := ch.receive(m.Data); err != nil {
			l.c.log.Warn().Err(err).Msg("closing channel")
			return ch.Close()
		}
	case apf.ChannelClose:
		l.forget(id)
		if ch.remoteClosed() {
			return l.send(apf.ChannelClose{RecipientChannel: ch.remote})
		}
	}
	return nil
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
