package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEventSettings(t *testing.T) {
	c, err := Load([]string{"-infraConfigPath="}, envMap())
	require.NoError(t, err)
	require.Empty(t, c.MQTTAddress, "MQTT off by default")
	require.Equal(t, "dm-manager", c.MQTTTopicPrefix)
	require.Equal(t, 7*24*time.Hour, c.EventRetention)

	c, err = Load([]string{"-infraConfigPath=", "-mqttAddress=tls://mqtt.example:8883"},
		envMap("DM_MQTT_USERNAME", "dm", "DM_MQTT_PASSWORD", "s3cret-pw", "DM_MQTT_CA_CERT", "/ca.pem"))
	require.NoError(t, err)
	require.Equal(t, "s3cret-pw", c.MQTTPassword)
	require.NotContains(t, c.Redacted(), "s3cret-pw")
	require.Contains(t, c.Redacted(), "DM_MQTT_PASSWORD=set")

	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-mqttAddress=broker"}, nil, "-mqttAddress"},
		{[]string{"-mqttAddress=ws://broker:80"}, nil, "scheme"},
		{[]string{"-mqttAddress=127.0.0.1:1883"}, []string{"DM_MQTT_CA_CERT", "/ca.pem"}, "tls://"},
		{[]string{"-mqttTopicPrefix=a/#"}, nil, "-mqttTopicPrefix"},
		{[]string{"-mqttTopicPrefix=/a"}, nil, "-mqttTopicPrefix"},
		{[]string{"-mqttTopicPrefix="}, nil, "-mqttTopicPrefix"},
		{[]string{"-eventRetention=30s"}, nil, "-eventRetention"},
		{nil, []string{"DM_MQTT_CLIENT_CERT", "/c.pem"}, "DM_MQTT_CLIENT_KEY"},
	} {
		t.Run(strings.Join(append(tc.args, tc.env...), " "), func(t *testing.T) {
			_, err := Load(append([]string{"-infraConfigPath="}, tc.args...), envMap(tc.env...))
			require.ErrorContains(t, err, tc.want)
		})
	}
}
