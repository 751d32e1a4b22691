package amtsim

import (
	"fmt"
	"strings"
)

// Fleet is a set of simulated devices with GUIDs derived from a seed.
type Fleet struct {
	devices []*Device
	byGUID  map[string]*Device
}

// NewFleet creates n devices from the template. Device i gets SeededGUID(seed, i) and,
// unless the template names a host, the host name "amtsim-<i>".
func NewFleet(n int, seed string, tmpl Config) (*Fleet, error) {
	return NewMixedFleet(n, seed, tmpl, 0)
}

// NewMixedFleet is NewFleet where tlsEnforcedPercent of the devices (0..100, spread evenly) enforce TLS like AMT
// 19 and later (Config.TLSEnforced); a template that enforces TLS makes them all do so.
func NewMixedFleet(n int, seed string, tmpl Config, tlsEnforcedPercent int) (*Fleet, error) {
	if tlsEnforcedPercent < 0 || tlsEnforcedPercent > 100 {
		return nil, fmt.Errorf("amtsim fleet: TLS-enforced share %d%% is not a percentage (0..100)", tlsEnforcedPercent)
	}
	f := &Fleet{devices: make([]*Device, 0, n), byGUID: make(map[string]*Device, n)}
	for i := range n {
		cfg := tmpl
		cfg.TLSEnforced = tmpl.TLSEnforced || (i+1)*tlsEnforcedPercent/100 > i*tlsEnforcedPercent/100
		cfg.GUID = SeededGUID(seed, i).String()
		if tmpl.Hostname == "" {
			cfg.Hostname = fmt.Sprintf("amtsim-%04d", i)
		} else {
			cfg.Hostname = fmt.Sprintf("%s-%04d", tmpl.Hostname, i)
		}
		d, err := New(cfg)
		if err != nil {
			return nil, fmt.Errorf("amtsim fleet device %d: %w", i, err)
		}
		if _, dup := f.byGUID[cfg.GUID]; dup {
			return nil, fmt.Errorf("amtsim fleet: seed %q gives duplicate guid %s", seed, cfg.GUID)
		}
		f.devices = append(f.devices, d)
		f.byGUID[cfg.GUID] = d
	}
	return f, nil
}

// Devices returns the devices in creation order.
func (f *Fleet) Devices() []*Device { return f.devices }

// Lookup finds a device by GUID (any case).
func (f *Fleet) Lookup(guid string) (*Device, bool) {
	d, ok := f.byGUID[strings.ToLower(guid)]
	return d, ok
}
