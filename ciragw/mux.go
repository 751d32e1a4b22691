package ciragw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// Values of the CHANNEL_OPEN we send, as MPS sends them to AMT (§2.3):
// empty target address, originator 1.2.3.4 with port 1024 + n mod 30000.
const (
	openOriginator    = "1.2.3.4"
	openOriginatorLow = 1024
	openOriginatorMod = 30000
)

// openChannel opens a forwarded-tcpip channel to port and waits for AMT's
// answer.
func (s *session) openChannel(ctx context.Context, port uint16) (net.Conn, error) {
	c, err := s.open(ctx, port)
	s.g.m.channelOpens.WithLabelValues(openLabel(err)).Inc()
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

func (s *session) open(ctx context.Context, port uint16) (net.Conn, error) {
	g := s.g
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ciragw: opening channel to %s port %d: %w", s.guid, port, err)
	}
	s.mu.Lock()
	switch {
	case s.ended || s.lingering():
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDeviceNotConnected, s.guid)
	case len(s.channels) >= g.cfg.MaxChannelsPerDevice:
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s has %d", ErrTooManyChannels, s.guid, g.cfg.MaxChannelsPerDevice)
	}
	id := s.allocID()
	c := newChannel(s, id, port, g.cfg.ChannelWindow)
	if s.channels == nil {
		s.channels = make(map[uint32]*channel)
	}
	s.channels[id] = c
	orig := openOriginatorLow + s.opens%openOriginatorMod
	s.opens++
	s.mu.Unlock()

	err := s.send(apf.ChannelOpen{
		ChannelType:       apf.ChannelForwardedTCPIP,
		SenderChannel:     id,
		InitialWindow:     g.cfg.ChannelWindow,
		Reserved:          apf.ReservedOpenField,
		TargetPort:        uint32(port),
		OriginatorAddress: openOriginator,
		OriginatorPort:    orig,
	})
	if err != nil {
		s.forget(id)
		return nil, err
	}
	timer := time.NewTimer(g.cfg.OpenTimeout)
	defer timer.Stop()
	select {
	case err := <-c.opened:
		if err != nil {
			s.forget(id)
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		err = fmt.Errorf("ciragw: opening channel to %s port %d: %w", s.guid, port, ctx.Err())
	case <-timer.C:
		err = fmt.Errorf("ciragw: device %s did not answer a channel open to port %d within %s: %w",
			s.guid, port, g.cfg.OpenTimeout, os.ErrDeadlineExceeded)
	}
	// Given up. Once forgotten, a late confirmation finds no channel and is
	// answered with CHANNEL_CLOSE; one that came first is closed here.
	s.forget(id)
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
func (s *session) allocID() uint32 {
	for {
		id := s.nextID
		s.nextID++
		if _, used := s.channels[id]; !used && id != 0 {
			return id
		}
	}
}

func (s *session) forget(id uint32) {
	s.mu.Lock()
	delete(s.channels, id)
	s.mu.Unlock()
}

func (s *session) lookup(id uint32) *channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels[id]
}

// channelMessage routes channel messages. As in MPS, a message for an
// unknown channel is skipped (§5.1): it is normally a late one for a channel
// we closed.
func (s *session) channelMessage(m apf.Message) error {
	switch m := m.(type) {
	case apf.ChannelOpenConfirmation:
		// Looked up and confirmed under s.mu, so that an opener giving up
		// (forget) cannot slip in between.
		s.mu.Lock()
		c := s.channels[m.RecipientChannel]
		ok := c != nil && c.confirm(m.SenderChannel, m.InitialWindow)
		s.mu.Unlock()
		if !ok {
			return s.send(apf.ChannelClose{RecipientChannel: m.SenderChannel})
		}
	case apf.ChannelOpenFailure:
		if c := s.lookup(m.RecipientChannel); c != nil {
			s.forget(m.RecipientChannel)
			c.refuse(m.Reason)
		}
	case apf.ChannelWindowAdjust:
		if c := s.lookup(m.RecipientChannel); c != nil {
			if err := c.adjust(m.BytesToAdd); err != nil {
				return s.failChannel(c, err)
			}
		}
	case apf.ChannelData:
		if c := s.lookup(m.RecipientChannel); c != nil {
			if err := c.deliver(m.Data); err != nil {
				return s.failChannel(c, err)
			}
		}
	case apf.ChannelClose:
		if c := s.lookup(m.RecipientChannel); c != nil {
			s.forget(m.RecipientChannel)
			if owed, remote := c.shut(io.EOF, ErrChannelClosedByDevice); owed {
				return s.send(apf.ChannelClose{RecipientChannel: remote})
			}
		}
	}
	return nil
}

// failChannel closes one channel whose peer broke flow control, keeping the
// session: one misbehaving channel should not cut the device off.
func (s *session) failChannel(c *channel, err error) error {
	s.logger().Warn().Err(err).Uint32("channel", c.id).Msg("closing channel after flow-control violation")
	s.forget(c.id)
	if owed, remote := c.shut(fmt.Errorf("ciragw: channel to %s: %w", s.guid, err), nil); owed {
		return s.send(apf.ChannelClose{RecipientChannel: remote})
	}
	return nil
}

// reapIdleChannels closes channels without data for longer than idle.
func (s *session) reapIdleChannels(now time.Time, idle time.Duration) {
	s.mu.Lock()
	var stale []*channel
	for _, c := range s.channels {
		if now.Sub(time.Unix(0, c.lastActive.Load())) > idle {
			stale = append(stale, c)
		}
	}
	s.mu.Unlock()
	for _, c := range stale {
		s.logger().Info().Uint32("channel", c.id).Uint16("port", c.port).Msg("closing idle channel")
		_ = c.Close()
	}
}
