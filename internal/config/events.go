package config

import (
	"fmt"
	"strings"
	"time"
)

// validateEvents checks the MQTT and audit trail settings (internal/events).
func (c *Config) validateEvents() error {
	if c.EventRetention < time.Minute {
		return fmt.Errorf("-eventRetention: %s is too short; keep events at least 1m (e.g. 168h for a week)", c.EventRetention)
	}
	p := c.MQTTTopicPrefix
	if p == "" || strings.ContainsAny(p, "+#\x00") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") ||
		strings.HasPrefix(p, "$") {
		return fmt.Errorf("-mqttTopicPrefix: %q must be non-empty, hold no MQTT wildcard (+ #), not start with $ "+
			"and not start or end with /; e.g. dm-manager", p)
	}
	if (c.MQTTClientCert == "") != (c.MQTTClientKey == "") {
		return fmt.Errorf("DM_MQTT_CLIENT_CERT and DM_MQTT_CLIENT_KEY: set both or neither")
	}
	if c.MQTTAddress == "" {
		return nil
	}
	scheme, hostport, ok := strings.Cut(c.MQTTAddress, "://")
	if !ok {
		scheme, hostport = "tcp", c.MQTTAddress
	}
	tlsOn := false
	switch scheme {
	case "tcp", "mqtt":
	case "tls", "ssl", "mqtts":
		tlsOn = true
	default:
		return fmt.Errorf("-mqttAddress: scheme %q is not supported; use host:port (plain) or tls://host:port", scheme)
	}
	if err := checkHostPort("mqttAddress", hostport); err != nil {
		return err
	}
	if !tlsOn && (c.MQTTCACert != "" || c.MQTTClientCert != "") {
		return fmt.Errorf("-mqttAddress: DM_MQTT_CA_CERT or DM_MQTT_CLIENT_CERT is set but %q is plain TCP; "+
			"use tls://%s", c.MQTTAddress, hostport)
	}
	return nil
}
