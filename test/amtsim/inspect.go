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
