package events

import (
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// noStore keeps no in-flight message for paho to resend after a reconnect. The publisher already counts an
// event without PUBACK as dropped (PublishTimeout), so a later resend would be a duplicate behind that count; and
// paho v1.5.1's resend of stored publishes races with its own writer (it sets Dup on a packet being packed).
type noStore struct{}

var _ mqtt.Store = noStore{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
