package amtsim

// PowerRequests returns the PowerState value of every RequestPowerStateChange the device received, in order,
// whatever its answer: what a test counts to prove a power action was or was not repeated. The audit log
// (AuditRecords) holds only the actions AMT carried out, and is bounded like AMT's.
func (d *Device) PowerRequests() []int {
	d.lock()
	defer d.unlock()
	return append([]int(nil), d.requests...)
}
