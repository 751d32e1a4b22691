package amtsim

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

const pmsURI = soap.CIMPrefix + "CIM_PowerManagementService"

// powerBody is the exact RequestPowerStateChange input of protocol-cira-wsman §10.3.
func powerBody(action int) string {
	return `<h:PowerState>` + strconv.Itoa(action) + `</h:PowerState><h:ManagedElement><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="CreationClassName">CIM_ComputerSystem</Selector><Selector Name="Name">ManagedSystem</Selector></SelectorSet></ReferenceParameters></h:ManagedElement>`
}

// history records every state the device passes through.
type history struct {
	mu     sync.Mutex
	states []State
}

func (h *history) hook(_ *Device, s State) {
	h.mu.Lock()
	h.states = append(h.states, s)
	h.mu.Unlock()
}

func (h *history) saw(cond func(State) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.states, cond)
}

func poweredDevice(t *testing.T, start PowerState) (*Device, *wsclient, *history) {
	h := &history{}
	d := newTestDevice(t, func(c *Config) { c.Power = start; c.OnChange = h.hook })
	force(d, AdminControl)
	return d, newClient(t, d, false, "admin", testPassword), h
}

func waitState(t *testing.T, d *Device, cond func(State) bool) State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := d.WaitFor(ctx, cond)
	require.NoError(t, err)
	return s
}

func readPower(t *testing.T, c *wsclient) (int, []string) {
	items := c.enumerate(soap.CIMPrefix + "CIM_ServiceAvailableToElement")
	require.Len(t, items, 1)
	ps, err := strconv.Atoi(items[0].Child("PowerState").Value())
	require.NoError(t, err)
	var avail []string
	for _, n := range items[0].All("AvailableRequestedPowerStates") {
		avail = append(avail, n.Value())
	}
	return ps, avail
}

func TestPowerActions(t *testing.T) {
	off := func(s State) bool { return s.PowerState == PowerOff }
	onWithOS := func(s State) bool { return s.PowerState == PowerOn && s.OSRunning }
	tests := []struct {
		name   string
		start  PowerState
		hung   bool
		action int
		wantRV int
		final  func(State) bool
		passed func(State) bool // a state that must have been seen on the way
	}{
		{name: "soft off with running OS", start: PowerOn, action: actSoftOff, final: off},
		{name: "hard off", start: PowerOn, action: actOff, final: off},
		{name: "hard off while hung", start: PowerOn, hung: true, action: actOff, final: off},
		{name: "power on", start: PowerOff, action: actOn, final: onWithOS,
			passed: func(s State) bool { return s.PowerState == PowerOn && !s.OSRunning }},
		{name: "reset reboots the OS", start: PowerOn, action: actReset, final: onWithOS,
			passed: func(s State) bool { return s.PowerState == PowerOn && !s.OSRunning }},
		{name: "soft reset", start: PowerOn, action: actSoftReset, final: onWithOS,
			passed: func(s State) bool { return s.PowerState == PowerOn && !s.OSRunning }},
		{name: "power cycle", start: PowerOn, action: actCycle, final: onWithOS, passed: off},
		{name: "sleep", start: PowerOn, action: actSleep, final: func(s State) bool { return s.PowerState == PowerSleep }},
		{name: "hibernate", start: PowerOn, action: actHibernate, final: func(s State) bool { return s.PowerState == PowerHibernate }},
		{name: "wake from sleep", start: PowerSleep, action: actOn, final: onWithOS},
		{name: "reset while off", start: PowerOff, action: actReset, wantRV: ptNotReady},
		{name: "soft off while off", start: PowerOff, action: actSoftOff, wantRV: ptNotReady},
		{name: "hard off while off", start: PowerOff, action: actOff, wantRV: ptNotReady},
		{name: "dmtf hard off value 6", start: PowerOn, action: 6, wantRV: ptInvalidParameter},
		{name: "graceful hard off 13", start: PowerOn, action: 13, wantRV: ptInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, c, h := poweredDevice(t, tt.start)
			d.SetOSHung(tt.hung)
			rv, _ := c.method(pmsURI, "RequestPowerStateChange", powerBody(tt.action))
			require.Equal(t, tt.wantRV, rv)
			if tt.final != nil {
				waitState(t, d, func(s State) bool { return (tt.passed == nil || h.saw(tt.passed)) && tt.final(s) })
			}
			ps, _ := readPower(t, c)
			require.Equal(t, int(d.State().PowerState), ps)
		})
	}
}

func TestHungOSIgnoresGracefulActions(t *testing.T) {
	d, c, _ := poweredDevice(t, PowerOn)
	d.SetOSHung(true)
	for _, a := range []int{actSoftOff, actSoftReset, actSleep, actHibernate} {
		rv, _ := c.method(pmsURI, "RequestPowerStateChange", powerBody(a))
		require.Equal(t, ptSuccess, rv, "AMT accepts the request; the hung OS never acts on it")
	}
	d.lock()
	pending := d.power.timer != nil
	d.unlock()
	require.False(t, pending, "no transition is scheduled for a hung OS")
	require.Equal(t, PowerOn, d.State().PowerState)
	d.SetOSHung(false)
	rv, _ := c.method(pmsURI, "RequestPowerStateChange", powerBody(actSoftOff))
	require.Equal(t, ptSuccess, rv)
	waitState(t, d, func(s State) bool { return s.PowerState == PowerOff })
}

func TestAvailablePowerStates(t *testing.T) {
	_, c, _ := poweredDevice(t, PowerOn)
	ps, avail := readPower(t, c)
	require.Equal(t, 2, ps)
	require.Equal(t, []string{"10", "8", "5", "11", "4", "7", "14", "12"}, avail) // §10.2 fixture order
	_, c, _ = poweredDevice(t, PowerOff)
	ps, avail = readPower(t, c)
	require.Equal(t, 8, ps)
	require.Equal(t, []string{"2"}, avail)
}

func TestPowerButton(t *testing.T) {
	d, _, _ := poweredDevice(t, PowerOff)
	d.PressPowerButton(false)
	waitState(t, d, func(s State) bool { return s.PowerState == PowerOn && s.OSRunning })
	d.PressPowerButton(false)
	waitState(t, d, func(s State) bool { return s.PowerState == PowerOff })
	d.PressPowerButton(false)
	waitState(t, d, func(s State) bool { return s.OSRunning })
	d.SetOSHung(true)
	d.PressPowerButton(true)
	waitState(t, d, func(s State) bool { return s.PowerState == PowerOff })
}

func TestPowerManagedElementChecked(t *testing.T) {
	_, c, _ := poweredDevice(t, PowerOn)
	body := `<h:PowerState>8</h:PowerState><h:ManagedElement><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">x</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Chassis</ResourceURI></ReferenceParameters></h:ManagedElement>`
	rv, _ := c.method(pmsURI, "RequestPowerStateChange", body)
	require.Equal(t, ptInvalidParameter, rv)
	status, _ := c.post(pmsURI+"/RequestPowerStateChange", pmsURI, "",
		`<h:RequestPowerStateChange_INPUT xmlns:h="`+pmsURI+`"><h:PowerState>8</h:PowerState></h:RequestPowerStateChange_INPUT>`)
	require.Equal(t, 400, status, "ManagedElement is required")
}
