package amtsim

import "github.com/dmrm/dm-manager/test/amtsim/soap"

// Recovery is the recovery part of State (control API: GET /devices/{guid}).
type Recovery struct {
	BootOverride   string        `json:"bootOverride"`            // armed one-time target, "" when none
	LastBootTarget string        `json:"lastBootTarget"`          // target of the last boot ("default" without override)
	LastBootCause  string        `json:"lastBootCause,omitempty"` // "reset", "power-on"
	Boots          int           `json:"boots"`
	HTTPSBootURL   string        `json:"httpsBootURL,omitempty"` // URL of the last HTTPS boot
	EFIBootPath    string        `json:"efiBootPath,omitempty"`  // .efi of the last PBA or WinRE boot
	Erase          *EraseStatus  `json:"erase,omitempty"`
	Alarms         []AlarmStatus `json:"alarms"`
}

func (d *Device) recoveryLocked() Recovery {
	r := Recovery{BootOverride: d.overrideLocked(), LastBootTarget: d.boot.lastTarget, LastBootCause: d.boot.lastCause,
		Boots: d.boot.boots, HTTPSBootURL: d.boot.httpsURL, EFIBootPath: d.boot.efiPath, Alarms: d.alarmsLocked()}
	if d.boot.erase != nil {
		e := *d.boot.erase
		e.Devices = append([]string(nil), e.Devices...)
		r.Erase = &e
	}
	return r
}

// RequestCounts counts the WS-Man requests the firmware dispatched (after authentication): reads (Get,
// Enumerate, Pull) and everything else (Put, Create, Delete, methods).
type RequestCounts struct{ Reads, Writes int }

func (d *Device) countRequest(action string) {
	switch action {
	case soap.ActionGet, soap.ActionEnumerate, soap.ActionPull:
		d.reqCounts.Reads++
	default:
		d.reqCounts.Writes++
	}
}

// Requests returns the request counts so far (tests assert that a refused REST call sent nothing).
func (d *Device) Requests() RequestCounts {
	d.lock()
	defer d.unlock()
	return d.reqCounts
}
