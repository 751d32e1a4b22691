package soap

import (
	"strconv"
	"testing"
)

func BenchmarkParseRequest(b *testing.B) {
	data := []byte(envelope(ActionGet, AMTPrefix+"AMT_GeneralSettings", "17", "", ""))
	b.ReportAllocs()
	for b.Loop() {
		if _, f := ParseRequest(data); f != nil {
			b.Fatal(f)
		}
	}
}

// BenchmarkAppendGetResponse renders a Get reply the shape of AMT_GeneralSettings.
func BenchmarkAppendGetResponse(b *testing.B) {
	const uri = AMTPrefix + "AMT_GeneralSettings"
	in := &Instance{Class: "AMT_GeneralSettings"}
	for i := range 28 {
		in.Props = append(in.Props, P("SettingNumber"+strconv.Itoa(i), "Intel(r) AMT: General Settings"))
	}
	b.ReportAllocs()
	for b.Loop() {
		AppendEnvelope(nil, Reply{
			RelatesTo: "17", MessageID: "uuid:00000000-8086-8086-8086-000000000001", Action: ActionGet + "Response",
			ResourceURI: uri, ClassNS: uri, Body: AppendInstance(nil, "g", in),
		})
	}
}
