package gwrun

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/test/load/creds"
)

// loadTenant is the tenant every load device belongs to.
const loadTenant = "load-tenant"

// authenticator accepts the credentials derived from each GUID (creds.For):
// no database, so that the load measures the gateway alone. A non-zero
// delay stands in for the backend round trips a real login costs (MPS: two
// database reads and two secret reads, §12).
type authenticator struct {
	seed  string
	delay time.Duration
}

func (a authenticator) Authenticate(ctx context.Context, guid, username, password string) (string, error) {
	if a.delay > 0 {
		t := time.NewTimer(a.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
	if !creds.Match(a.seed, guid, username, password) {
		return "", fmt.Errorf("%w: %s", ciragw.ErrBadCredentials, guid)
	}
	return loadTenant, nil
}

// caStore keeps the gateway CA in memory.
type caStore struct {
	mu            sync.Mutex
	certPEM, keyP []byte
}

func (s *caStore) Load(context.Context) ([]byte, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certPEM == nil {
		return nil, nil, ciragw.ErrNoCA
	}
	return s.certPEM, s.keyP, nil
}

func (s *caStore) Create(_ context.Context, certPEM, keyPEM []byte) ([]byte, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certPEM == nil {
		s.certPEM, s.keyP = certPEM, keyPEM
	}
	return s.certPEM, s.keyP, nil
}

// presenceSink counts the presence records the gateway writes.
type presenceSink struct{ batches, records atomic.Int64 }

func (p *presenceSink) WritePresence(_ context.Context, batch []ciragw.Presence) error {
	p.batches.Add(1)
	p.records.Add(int64(len(batch)))
	return nil
}

// firstAccept remembers when the first connection arrived: the ramp clock
// starts there.
type firstAccept struct {
	net.Listener
	at atomic.Int64 // unix nanoseconds, 0 until the first Accept
}

func (l *firstAccept) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.at.Load() == 0 {
		l.at.CompareAndSwap(0, time.Now().UnixNano())
	}
	return c, err
}

func (l *firstAccept) first() (time.Time, bool) {
	n := l.at.Load()
	return time.Unix(0, n), n != 0
}
