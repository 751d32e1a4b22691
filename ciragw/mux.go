package ciragw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// Values of the CHANNEL_OPEN we send, as MPS sends them to AMT (§2.3):
// empty target address, originator 1.2.3.4 with port 1024 + n mod 30000.
const (
	openOriginator    = "1.2.3.4"
	openOriginatorLow = 1024
	openOriginatorMod = 30000
)

// muxConfig is what a mux takes from the gateway, shared by all sessions.
type muxConfig struct {
	window      uint32        // receive window advertised per channel
	maxChannels int           // channels open at once
	openTimeout time.Duration // wait for AMT's answer to CHANNEL_OPEN
	m           *metrics
}

// mux is one session's channel table, as in ssh's mux: it allocates channel
// ids, opens forwarded-tcpip channels, routes AMT's channel messages by
// recipient id and fails every channel when the session ends. It writes
// through a link and knows nothing of TLS or the handshake, so it runs over
// any transport (tests drive it over net.Pipe). It lives inside the session
// (no allocation of its own: every idle device has one) and is set up by init
// once the session is established.
type mux struct {
	out  link
	cfg  *muxConfig
	guid string

	mu       sync.Mutex
	channels map[uint32]*channel
	nextID   uint32
	opens    uint32 // originator port counter (§2.3)
	ended    bool
}

func (x *mux) init(out link, cfg *muxConfig, guid string) {
	x.out, x.cfg, x.guid, x.nextID = out, cfg, guid, 1
}

// lastActive returns the last time a channel carried data either way (or
// was opened), zero when none is open.
func (x *mux) lastActive() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	var last int64
	for _, c := range x.channels {
		last = max(last, c.lastActive.Load())
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(0, last)
}

// openChannel opens a forwarded-tcpip channel to port and waits for AMT's
// answer.
func (x *mux) openChannel(ctx context.Context, port uint16) (net.Conn, error) {
	c, err := x.open(ctx, port)
	x.cfg.m.channelOpens.WithLabelValues(openLabel(err)).Inc()
	return c, err
}

func openLabel(err error) string {
	var oe *OpenError
	switch {
	case err == nil:
		return openOK
	case errors.As(err, &oe):
		return openRefused
	case errors.Is(err, ErrTooManyChannels):
		return openTooMany
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return openTimeout
	case errors.Is(err, context.Canceled):
		return openCanceled
	}
	return openNoDevice
}

func (x *mux) open(ctx context.Context, port uint16) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ciragw: opening channel to %s port %d: %w", x.guid, port, err)
	}
	x.mu.Lock()
	switch {
	case x.ended || x.out.closing():
		x.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDeviceNotConnected, x.guid)
	case len(x.channels) >= x.cfg.maxChannels:
		x.mu.Unlock()
		return nil, fmt.Errorf("%w: %s has %d", ErrTooManyChannels, x.guid, x.cfg.maxChannels)
	}
	id := x.allocID()
	c := newChannel(x, id, port, x.cfg.window)
	if x.channels == nil {
		x.channels = make(map[uint32]*channel)
	}
	x.channels[id] = c
	orig := openOriginatorLow + x.opens%openOriginatorMod
	x.opens++
	x.mu.Unlock()

	err := x.out.send(apf.ChannelOpen{
		ChannelType:       apf.ChannelForwardedTCPIP,
		SenderChannel:     id,
		InitialWindow:     x.cfg.window,
		Reserved:          apf.ReservedOpenField,
		TargetPort:        uint32(port),
		OriginatorAddress: openOriginator,
		OriginatorPort:    orig,
	})
	if err != nil {
		x.forget(id)
		return nil, err
	}
	timer := time.NewTimer(x.cfg.openTimeout)
	defer timer.Stop()
	select {
	case err := <-c.opened:
		if err != nil {
			x.forget(id)
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		err = fmt.Errorf("ciragw: opening channel to %s port %d: %w", x.guid, port, ctx.Err())
	case <-timer.C:
		err = fmt.Errorf("ciragw: device %s did not answer a channel open to port %d within %s: %w",
			x.guid, port, x.cfg.openTimeout, os.ErrDeadlineExceeded)
	}
	// Given up. Once forgotten, a late confirmation finds no channel and is
	// answered with CHANNEL_CLOSE; one that came first is closed here.
	x.forget(id)
	c.mu.Lock()
	confirmed := c.state == chanOpen
	c.mu.Unlock()
	if confirmed {
		_ = c.Close()
	} else {
		c.finish(err, nil)
	}
	return nil, err
}

// allocID returns an unused channel id; ids grow and are not reused until
// they wrap, so late messages for a closed channel find nothing.
func (x *mux) allocID() uint32 {
	for {
		id := x.nextID
		x.nextID++
		if _, used := x.channels[id]; !used && id != 0 {
			return id
		}
	}
}

func (x *mux) forget(id uint32) {
	x.mu.Lock()
	delete(x.channels, id)
	x.mu.Unlock()
}

func (x *mux) lookup(id uint32) *channel {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.channels[id]
}

// count is the number of channels open or opening.
func (x *mux) count() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.channels)
}

// dispatch routes one channel message. As in MPS, a message for an unknown
// channel is skipped (§5.1): it is normally a late one for a channel we
// closed. An error means the link failed.
func (x *mux) dispatch(m apf.Message) error {
	switch m := m.(type) {
	case apf.ChannelOpenConfirmation:
		// Looked up and confirmed under x.mu, so that an opener giving up
		// (forget) cannot slip in between.
		x.mu.Lock()
		c := x.channels[m.RecipientChannel]
		ok := c != nil && c.confirm(m.SenderChannel, m.InitialWindow)
		x.mu.Unlock()
		if !ok {
			return x.out.send(apf.ChannelClose{RecipientChannel: m.SenderChannel})
		}
	case apf.ChannelOpenFailure:
		if c := x.lookup(m.RecipientChannel); c != nil {
			x.forget(m.RecipientChannel)
			c.refuse(m.Reason)
		}
	case apf.ChannelWindowAdjust:
		if c := x.lookup(m.RecipientChannel); c != nil {
			if err := c.adjust(m.BytesToAdd); err != nil {
				return x.failChannel(c, err)
			}
		}
	case apf.ChannelData:
		if c := x.lookup(m.RecipientChannel); c != nil {
			if err := c.deliver(m.Data); err != nil {
				return x.failChannel(c, err)
			}
		}
	case apf.ChannelClose:
		if c := x.lookup(m.RecipientChannel); c != nil {
			x.forget(m.RecipientChannel)
			if owed, remote := c.shut(io.EOF, ErrChannelClosedByDevice); owed {
				return x.out.send(apf.ChannelClose{RecipientChannel: remote})
			}
		}
	default:
		return fmt.Errorf("ciragw: %s is not a channel message", m.Type())
	}
	return nil
}

// failChannel closes one channel whose peer broke flow control, keeping the
// session: one misbehaving channel should not cut the device off.
func (x *mux) failChannel(c *channel, err error) error {
	x.out.event(zerolog.WarnLevel).Err(err).Uint32("channel", c.id).Msg("closing channel after flow-control violation")
	x.forget(c.id)
	if owed, remote := c.shut(fmt.Errorf("ciragw: channel to %s: %w", x.guid, err), nil); owed {
		return x.out.send(apf.ChannelClose{RecipientChannel: remote})
	}
	return nil
}

// reapIdle closes channels without data for longer than idle.
func (x *mux) reapIdle(now time.Time, idle time.Duration) {
	x.mu.Lock()
	var stale []*channel
	for _, c := range x.channels {
		if now.Sub(time.Unix(0, c.lastActive.Load())) > idle {
			stale = append(stale, c)
		}
	}
	x.mu.Unlock()
	for _, c := range stale {
		x.out.event(zerolog.InfoLevel).Uint32("channel", c.id).Uint16("port", c.port).Msg("closing idle channel")
		_ = c.Close()
	}
}

// close fails every channel with err and refuses new ones; the session calls
// it once its connection is gone.
func (x *mux) close(err error) {
	x.mu.Lock()
	x.ended = true
	chans := x.channels
	x.channels = nil
	x.mu.Unlock()
	for _, c := range chans {
		c.finish(err, nil)
	}
}
