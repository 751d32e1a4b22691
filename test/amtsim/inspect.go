package amtsim

// inspectable are the settings classes tests may read with Setting.
var inspectable = map[string]*settingsClass{}

func init() {
	for _, sc := range []*settingsClass{generalSettings, ethernetPort, redirection, optIn, kvm, environmentDetection} {
		inspectable[sc.name] = sc
	}
}

// Setting returns the current values of one property of a settings class (e.g. "AMT_GeneralSettings",
// "HostName"), nil for an unknown class or property.
func (d *Device) Setting(class, property string) []string {
	sc := inspectable[class]
	if sc == nil {
		return nil
	}
	d.lock()
	defer d.unlock()
	return append([]string(nil), d.value(sc, property)...)
}

// Redirection is what the device's redirection settings allow: KVM (CIM_KVMRedirectionSAP enabled or enabled but
// offline), SOL and IDE-R (AMT_RedirectionService.EnabledState 32768–32771) and whether the redirection listener
// is on (protocol-rps-activation §2.8).
type Redirection struct {
	KVM      bool `json:"kvm"`
	SOL      bool `json:"sol"`
	IDER     bool `json:"ider"`
	Listener bool `json:"listener"`
}

func (d *Device) redirectionLocked() Redirection {
	first := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	kvm := first(d.value(kvm, "EnabledState"))
	state := first(d.value(redirection, "EnabledState"))
	return Redirection{
		KVM:      kvm == "2" || kvm == "6",
		SOL:      state == "32770" || state == "32771",
		IDER:     state == "32769" || state == "32771",
		Listener: first(d.value(redirection, "ListenerEnabled")) == "true",
	}
}
