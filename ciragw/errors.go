package ciragw

import (
	"errors"
	"fmt"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// Errors returned by OpenChannel and by channel reads and writes.
var (
	// ErrDeviceNotConnected: the device has no established CIRA session on
	// this gateway. AMT reconnects on its own schedule; if it never does,
	// check its CIRA configuration (server address, root certificate).
	ErrDeviceNotConnected = errors.New("ciragw: device has no CIRA session on this gateway")
	// ErrTooManyChannels: the device already has Config.MaxChannelsPerDevice
	// channels open; retry when one of them is closed.
	ErrTooManyChannels = errors.New("ciragw: too many open channels to the device")
	// ErrSessionClosed: the CIRA session carrying the channel ended.
	ErrSessionClosed = errors.New("ciragw: CIRA session closed")
	// ErrChannelClosedByDevice: AMT closed the channel; writes are refused.
	ErrChannelClosedByDevice = errors.New("ciragw: channel closed by the device")
)

// Errors an Authenticator wraps to say why it refused a device. They only
// feed metrics and logs: the device is told nothing but USERAUTH_FAILURE.
// Any other error is a backend failure, which does not count against the
// device's login rate limit.
var (
	ErrUnknownDevice  = errors.New("ciragw: unknown device")
	ErrBadCredentials = errors.New("ciragw: wrong CIRA username or password")
)

// ErrNoCA is returned (wrapped) by CAStore.Load when nothing is stored yet.
var ErrNoCA = errors.New("ciragw: no gateway CA stored")

// OpenError is AMT's refusal of a channel open (CHANNEL_OPEN_FAILURE, §2.3).
type OpenError struct {
	GUID   string
	Port   uint16
	Reason apf.OpenFailureReason
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("ciragw: device %s refused a channel to port %d: %s", e.GUID, e.Port, e.Reason)
}

// ProtocolError is a peer's violation of APF; the session ends with a
// DISCONNECT carrying Reason.
type ProtocolError struct {
	Reason apf.DisconnectReason
	Msg    string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("ciragw: APF protocol violation (%s): %s", e.Reason, e.Msg)
}

func protocolErrorf(format string, args ...any) *ProtocolError {
	return &ProtocolError{Reason: apf.DisconnectProtocolError, Msg: fmt.Sprintf(format, args...)}
}
