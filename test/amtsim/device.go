// Package amtsim simulates Intel AMT firmware for tests, demos and load: the provisioning
// state machine (CCM/ACM host-based setup with real certificate-chain and signature
// checks), the CIRA configuration store, a host power model with an OS, the audit and event logs,
// and a strict WS-Man server (HTTP/1.1, Digest auth, chunked responses) on any net.Conn.
// It is written from docs/protocol-cira-wsman.md and protocol-rps-activation.md alone.
package amtsim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/amtsim/httpwire"
)

// ControlMode is AMT's provisioning mode as rpc-go reports it in currentMode.
type ControlMode int

// Control modes (protocol-rps-activation "Terms").
const (
	PreProvisioning ControlMode = 0
	ClientControl   ControlMode = 1
	AdminControl    ControlMode = 2
)

func (m ControlMode) String() string {
	switch m {
	case PreProvisioning:
		return "pre-provisioning"
	case ClientControl:
		return "ccm"
	case AdminControl:
		return "acm"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Config describes one simulated device. Zero values get realistic defaults.
type Config struct {
	GUID     string // canonical text; empty: random
	Version  string // AMT version, default "16.1.25"
	Build    string // default "2049"
	SKU      string // default "16392" (AMT Pro Corporate)
	Hostname string
	// DNSSuffix is the PKI DNS suffix AMT knows (DHCP option 15 or MEBx); ACM needs it
	// to match the provisioning certificate's CN (protocol-rps-activation §2.4).
	DNSSuffix string
	// LSAUser/LSAPassword is the local system account rpc-go reads over HECI; it is the
	// only digest account in pre-provisioning. Empty: "$$OsAdmin" and a random password.
	LSAUser     string
	LSAPassword string
	// DigestRealm fixes the realm ("Digest:" + 32 hex); empty: random, as AMT has.
	DigestRealm string
	// RootHashes is the trusted root hash table; nil: DefaultRootHashes().
	RootHashes []RootHash

	Power           PowerState    // initial power state, default PowerOn with the OS running
	PowerDelay      time.Duration // hard actions (on, off, cycle, reset); default 200ms
	OSBootDelay     time.Duration // power-on to OS running; default 500ms
	OSShutdownDelay time.Duration // OS performing a graceful action; default 500ms

	// TLSEnforced makes an AMT 19+ device (tls.go): TLS only on host-side port 16993 with a self-signed
	// certificate, plain 16992 refused after Setup, version 19.0.5 unless Version is set.
	TLSEnforced bool
	// RolloverDelay is how long a TLS-enforcing device resets new TLS connections after Setup; default 1s.
	RolloverDelay time.Duration
	// TLSOnly is firmware whose network TLS setting reports NonSecureConnectionsSupported=false: with TLS on it
	// accepts no non-TLS connections, and a Put asking for them is refused (tlsconfig.go).
	TLSOnly bool

	NonceTTL    time.Duration // digest nonce lifetime; default 2m
	IdleTimeout time.Duration // keep-alive idle limit per connection; default 60s
	Seed        uint64        // chunk-split RNG seed; 0: derived from the GUID
	Clock       func() time.Time
	// OnChange is called (outside the device lock) after every state change with the
	// state as it was right after that change.
	OnChange func(*Device, State)
	Log      zerolog.Logger
}

func (c *Config) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if c.TLSEnforced {
		def(&c.Version, tlsEnforcedVersion)
		def(&c.Build, tlsEnforcedBuild)
	}
	def(&c.Version, "16.1.25")
	def(&c.Build, "2049")
	def(&c.SKU, "16392")
	def(&c.LSAUser, "$$OsAdmin")
	defDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defDur(&c.PowerDelay, 200*time.Millisecond)
	defDur(&c.OSBootDelay, 500*time.Millisecond)
	defDur(&c.OSShutdownDelay, 500*time.Millisecond)
	defDur(&c.NonceTTL, 2*time.Minute)
	defDur(&c.RolloverDelay, time.Second)
	defDur(&c.IdleTimeout, 60*time.Second)
	if c.Power == 0 {
		c.Power = PowerOn
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// Device is one simulated AMT device. All methods are safe for concurrent use.
type Device struct {
	cfg   Config
	guid  GUID
	realm string
	seed  uint64
	log   zerolog.Logger

	mu    sync.Mutex
	dirty bool
	ver   uint64
	wake  chan struct{}

	mode      ControlMode
	adminUser string
	adminHA1  string
	mebx      string
	hashes    []RootHash
	ownHashes bool
	cfgNonce  [20]byte
	chain     certChain
	cira      ciraStore
	settings  map[string]settingsObj
	power     powerModel
	requests  []int // every RequestPowerStateChange received, accepted or not (requests.go)
	boot      bootModel
	alarms    alarmClock
	reqCounts RequestCounts
	audit     auditLog
	events    messageLog
	reachable bool
	// unprovisionBlocked: Unprovision is refused (BlockUnprovision).
	unprovisionBlocked bool
	conns              map[net.Conn]struct{}
	nonces             nonceRing
	enums              enumTable
	msgSeq             uint32
	connSeq            uint64
	suffix             string
	hostname           string
	lsaHA1             string
	tls                tlsState
	tlscfg             tlsConfigStore
	clock              clockState
}

// New creates a device in pre-provisioning mode.
func New(cfg Config) (*Device, error) {
	cfg.defaults()
	d := &Device{cfg: cfg, reachable: true, suffix: cfg.DNSSuffix, hostname: cfg.Hostname}
	if cfg.GUID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		d.guid = GUID(b)
	} else {
		g, err := ParseGUID(cfg.GUID)
		if err != nil {
			return nil, fmt.Errorf("amtsim: %w", err)
		}
		d.guid = g
	}
	if d.cfg.LSAPassword == "" {
		d.cfg.LSAPassword = randomHex(16)
	}
	// AMT's realm: "Digest:" + 32 upper-case hex (protocol-cira-wsman §8.3).
	d.realm = cfg.DigestRealm
	if d.realm == "" {
		d.realm = "Digest:" + strings.ToUpper(randomHex(16))
	} else if h, ok := strings.CutPrefix(d.realm, "Digest:"); !ok || len(h) != 32 || strings.Trim(h, "0123456789ABCDEFabcdef") != "" {
		return nil, fmt.Errorf("amtsim: digest realm %q: want \"Digest:\" and 32 hex digits", d.realm)
	}
	d.lsaHA1 = httpwire.HA1(d.cfg.LSAUser, d.realm, d.cfg.LSAPassword)
	d.seed = cfg.Seed
	if d.seed == 0 {
		d.seed = binary.BigEndian.Uint64(d.guid[:8])
	}
	d.hashes = cfg.RootHashes
	if d.hashes == nil {
		d.hashes = defaultRootHashes
	}
	d.log = cfg.Log.With().Str("guid", d.guid.String()).Logger()
	d.resetProvisioningLocked()
	d.power.init(cfg.Power)
	d.logBootLocked(d.cfg.Clock().Add(-time.Duration(len(bootProgress)) * time.Second))
	d.dirty = false // nothing to announce: nobody can observe the device yet
	return d, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// GUID is the device identity (canonical lower-case text via String()).
func (d *Device) GUID() GUID { return d.guid }

// DigestRealm is the device's fixed digest realm, as AMT_GeneralSettings reports it.
func (d *Device) DigestRealm() string { return d.realm }

// LSA returns the local system account credentials rpc-go would read over HECI.
func (d *Device) LSA() (user, password string) { return d.cfg.LSAUser, d.cfg.LSAPassword }

// Versions returns the firmware version, build and SKU strings.
func (d *Device) Versions() (version, build, sku string) {
	return d.cfg.Version, d.cfg.Build, d.cfg.SKU
}

// lock/unlock bracket every state access; unlock publishes a change made while locked
// (marked by d.dirty) to waiters and the OnChange hook, outside the lock.
func (d *Device) lock() { d.mu.Lock() }

func (d *Device) unlock() {
	if !d.dirty {
		d.mu.Unlock()
		return
	}
	d.dirty = false
	d.ver++
	w := d.wake
	d.wake = nil
	var s State
	if d.cfg.OnChange != nil {
		s = d.stateLocked()
	}
	d.mu.Unlock()
	if w != nil {
		close(w)
	}
	if d.cfg.OnChange != nil {
		d.cfg.OnChange(d, s)
	}
}

func (d *Device) changed() { d.dirty = true }

// Changed returns a channel closed at the next state change.
func (d *Device) Changed() <-chan struct{} {
	d.lock()
	defer d.unlock()
	if d.wake == nil {
		d.wake = make(chan struct{})
	}
	return d.wake
}

// WaitFor blocks until cond holds for the device state or ctx ends.
func (d *Device) WaitFor(ctx context.Context, cond func(State) bool) (State, error) {
	for {
		ch := d.Changed()
		s := d.State()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s, fmt.Errorf("amtsim %s: waiting for state (now %s, power %d): %w",
				d.guid, s.Mode, s.PowerState, ctx.Err())
		}
	}
}

// State is a snapshot of the device for tests and the control API.
type State struct {
	GUID       string      `json:"guid"`
	Mode       ControlMode `json:"controlMode"`
	ModeName   string      `json:"controlModeName"`
	PowerState PowerState  `json:"powerState"`
	OSRunning  bool        `json:"osRunning"`
	OSHung     bool        `json:"osHung"`
	Reachable  bool        `json:"reachable"`
	// UnprovisionBlocked: Unprovision is refused (BlockUnprovision).
	UnprovisionBlocked bool            `json:"unprovisionBlocked"`
	CIRAConfigured     bool            `json:"ciraConfigured"`
	DNSSuffix          string          `json:"dnsSuffix"`
	Version            uint64          `json:"version"`
	Redirection        Redirection     `json:"redirection"`
	TLS                *TLSConfigState `json:"tls,omitempty"` // in force since CommitChanges; nil when AMT serves its own
	Recovery                           // boot override, last boot, erase, alarms (classes_boot.go)
}

// State returns a consistent snapshot.
func (d *Device) State() State {
	d.lock()
	defer d.unlock()
	return d.stateLocked()
}

func (d *Device) stateLocked() State {
	return State{
		GUID: d.guid.String(), Mode: d.mode, ModeName: d.mode.String(),
		PowerState: d.power.state, OSRunning: d.power.osUp, OSHung: d.power.hung,
		Reachable: d.reachable, UnprovisionBlocked: d.unprovisionBlocked, CIRAConfigured: d.ciraLocked().Configured(),
		DNSSuffix: d.suffix, Version: d.ver, Redirection: d.redirectionLocked(), Recovery: d.recoveryLocked(),
		TLS: d.tlsStateLocked(),
	}
}

// Mode returns the current control mode.
func (d *Device) Mode() ControlMode {
	d.lock()
	defer d.unlock()
	return d.mode
}

// SetDNSSuffix changes the PKI DNS suffix (as MEBx or DHCP option 15 would).
func (d *Device) SetDNSSuffix(s string) {
	d.lock()
	defer d.unlock()
	d.suffix = s
	d.changed()
}

// DNSSuffix returns the PKI DNS suffix rpc-go reports as fqdn.
func (d *Device) DNSSuffix() string {
	d.lock()
	defer d.unlock()
	return d.suffix
}

// Hostname returns the host name rpc-go reports.
func (d *Device) Hostname() string { return d.hostname }

// AddRootHash adds an entry to the trusted root hash table (tests add their own root).
func (d *Device) AddRootHash(h RootHash) {
	d.lock()
	defer d.unlock()
	if !d.ownHashes {
		d.hashes = append([]RootHash(nil), d.hashes...)
		d.ownHashes = true
	}
	d.hashes = append(d.hashes, h)
	d.changed()
}

// RootHashes returns the active trusted root hashes in lower-case hex (rpc-go certHashes).
func (d *Device) RootHashes() []string {
	d.lock()
	defer d.unlock()
	var out []string
	for _, h := range d.hashes {
		if h.Active {
			out = append(out, h.Hex())
		}
	}
	return out
}

// AdminPasswordIs reports whether pw is the current admin password (AMT keeps only
// MD5(user:realm:password), so a candidate can be checked but not recovered).
func (d *Device) AdminPasswordIs(pw string) bool {
	d.lock()
	defer d.unlock()
	return d.mode != PreProvisioning && httpwire.HA1(d.adminUser, d.realm, pw) == d.adminHA1
}

// MEBxPassword returns the MEBx password (plain text: MEBx shows no hash).
func (d *Device) MEBxPassword() string {
	d.lock()
	defer d.unlock()
	return d.mebx
}

// SetReachable cuts (false) or restores (true) AMT's network: while cut every
// connection is dropped at once and open ones are closed ("AMT unreachable").
func (d *Device) SetReachable(up bool) {
	d.lock()
	var drop []net.Conn
	if d.reachable != up {
		d.reachable = up
		d.changed()
		if !up {
			for c := range d.conns {
				drop = append(drop, c)
			}
		}
	}
	d.unlock()
	for _, c := range drop {
		_ = c.Close()
	}
	if len(drop) > 0 {
		d.log.Info().Int("connections", len(drop)).Msg("network cut, connections dropped")
	}
}

// Reachable reports whether AMT's network is up.
func (d *Device) Reachable() bool {
	d.lock()
	defer d.unlock()
	return d.reachable
}
