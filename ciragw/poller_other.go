//go:build !linux

package ciragw

import (
	"errors"
	"time"
)

// Elsewhere sessions wait in Read on their goroutine, as before parking.
type poller struct{}

func newPoller(func(*session), time.Duration) (*poller, error) {
	return nil, errors.New("parking sessions needs epoll (Linux)")
}

func (*poller) park(*session, time.Time) {}
func (*poller) unpark(*session)          {}
func (*poller) release(*session)         {}
func (*poller) close()                   {}
