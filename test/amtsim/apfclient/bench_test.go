package apfclient

import (
	"bytes"
	"testing"
)

func BenchmarkChannelData(b *testing.B) {
	data := make([]byte, 2500)
	b.ReportAllocs()
	for b.Loop() {
		channelData(nil, 0x10, data)
	}
}

// BenchmarkReceiveChannelData decodes one CHANNEL_DATA carrying a WS-Man request and
// hands it to the channel's reader, as the link's run loop does.
func BenchmarkReceiveChannelData(b *testing.B) {
	msg := channelData(nil, 0x10, bytes.Repeat([]byte("x"), 1500))
	r := bytes.NewReader(msg)
	in := newInbound(r)
	p := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(msg)
		in.r.Reset(r)
		m, err := in.next()
		if err != nil {
			b.Fatal(err)
		}
		ch := newChannel(nil, 0x10, 1, 8192, 8192)
		if err := ch.receive(m.(channelDataMsg).data); err != nil {
			b.Fatal(err)
		}
		if n, _ := ch.Read(p); n != 1500 {
			b.Fatal(n)
		}
	}
}
