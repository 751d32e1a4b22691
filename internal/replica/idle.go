package replica

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// idleChannelTimeout is how long a channel AMT left open after a forwarded exchange waits for the next one.
// Exchanges of one operation (a REST read, a power request with its digest retry) come within milliseconds; a
// channel idle longer is closed rather than held on the device.
const idleChannelTimeout = 30 * time.Second

type channelKey struct {
	guid string
	port uint16
}

type idleChannel struct {
	conn  net.Conn
	timer *time.Timer
}

// idleChannels keeps at most one open channel per device and port between forwarded exchanges, as the owner's own
// WS-Man client keeps its keep-alive channel: the next exchange then skips opening a channel, a round trip to
// the device.
type idleChannels struct {
	mu sync.Mutex
	m  map[channelKey]*idleChannel
}

func newIdleChannels() *idleChannels { return &idleChannels{m: make(map[channelKey]*idleChannel)} }

// take returns the idle channel for k, or nil; the caller owns it.
func (p *idleChannels) take(k channelKey) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	ic := p.m[k]
	if ic == nil || !ic.timer.Stop() {
		return nil // none, or its timeout is closing it
	}
	delete(p.m, k)
	return ic.conn
}

// put keeps conn as the idle channel for k, or closes it when one is kept already.
func (p *idleChannels) put(k channelKey, conn net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[k]; ok {
		_ = conn.Close()
		return
	}
	ic := &idleChannel{conn: conn}
	ic.timer = time.AfterFunc(idleChannelTimeout, func() {
		p.mu.Lock()
		if p.m[k] == ic {
			delete(p.m, k)
		}
		p.mu.Unlock()
		_ = conn.Close()
	})
	p.m[k] = ic
}

// close closes every idle channel.
func (p *idleChannels) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, ic := range p.m {
		if ic.timer.Stop() {
			_ = ic.conn.Close()
		}
		delete(p.m, k)
	}
}

// keepAlive tells whether the channel stays open after this exchange: HTTP/1.1 on both sides, neither saying
// "Connection: close", and a response whose end is marked (Content-Length or chunked) rather than read to EOF.
func keepAlive(request, response []byte) bool {
	reqHead, ok := head(request)
	if !ok || closes(reqHead) {
		return false
	}
	respHead, ok := head(response)
	if !ok || !bytes.HasPrefix(respHead, []byte("HTTP/1.1 ")) || closes(respHead) {
		return false
	}
	return header(respHead, "content-length") != nil || bytes.EqualFold(header(respHead, "transfer-encoding"), []byte("chunked"))
}

// head is an HTTP message's start line and headers.
func head(msg []byte) ([]byte, bool) {
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	return msg[:max(i, 0)], i >= 0
}

func closes(h []byte) bool {
	for _, tok := range bytes.Split(header(h, "connection"), []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(tok), []byte("close")) {
			return true
		}
	}
	return false
}

// header returns the value of the first header named name (lower case) in h, or nil.
func header(h []byte, name string) []byte {
	lines := bytes.Split(h, []byte("\r\n"))
	for _, l := range lines[1:] {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}
