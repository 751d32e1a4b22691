package southbound_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dmrm/dm-manager/internal/southbound/pb"
)

// TestWireContract pins the facts deployed agents depend on (EMF infra-external
// dm-manager/pkg/api/dm-manager/dm-manager.proto): package, service, methods, field numbers, enum values.
func TestWireContract(t *testing.T) {
	fd := pb.File_device_management_device_management_proto
	require.Equal(t, protoreflect.FullName("device_management"), fd.Package())

	svc := fd.Services().ByName("DeviceManagement")
	require.NotNil(t, svc)
	methods := map[string][2]string{
		"ReportAMTStatus":           {"AMTStatusRequest", "AMTStatusResponse"},
		"RetrieveActivationDetails": {"ActivationRequest", "ActivationDetailsResponse"},
		"ReportActivationResults":   {"ActivationResultRequest", "ActivationResultResponse"},
	}
	require.Equal(t, len(methods), svc.Methods().Len())
	for name, io := range methods {
		m := svc.Methods().ByName(protoreflect.Name(name))
		require.NotNil(t, m, name)
		require.Equal(t, protoreflect.FullName("device_management."+io[0]), m.Input().FullName(), name)
		require.Equal(t, protoreflect.FullName("device_management."+io[1]), m.Output().FullName(), name)
	}

	type field struct {
		num  protoreflect.FieldNumber
		kind protoreflect.Kind
	}
	str := func(n protoreflect.FieldNumber) field { return field{n, protoreflect.StringKind} }
	enum := func(n protoreflect.FieldNumber) field { return field{n, protoreflect.EnumKind} }
	fields := map[string]map[string]field{
		"AMTStatusRequest":          {"host_id": str(1), "status": enum(2), "feature": str(3)},
		"AMTStatusResponse":         {},
		"ActivationRequest":         {"host_id": str(1)},
		"ActivationDetailsResponse": {"host_id": str(1), "operation": enum(2), "profile_name": str(3), "action_password": str(4)},
		"ActivationResultRequest":   {"host_id": str(1), "activation_status": enum(2), "message": str(3)},
		"ActivationResultResponse":  {},
	}
	for msg, want := range fields {
		md := fd.Messages().ByName(protoreflect.Name(msg))
		require.NotNil(t, md, msg)
		require.Equal(t, len(want), md.Fields().Len(), msg)
		for name, w := range want {
			f := md.Fields().ByName(protoreflect.Name(name))
			require.NotNil(t, f, msg+"."+name)
			require.Equal(t, w.num, f.Number(), msg+"."+name)
			require.Equal(t, w.kind, f.Kind(), msg+"."+name)
		}
	}

	enums := map[string]map[string]protoreflect.EnumNumber{
		"OperationType":    {"ACTIVATE": 0, "DEACTIVATE": 1},
		"AMTStatus":        {"UNKNOWN": 0, "ENABLED": 1, "DISABLED": 2},
		"ActivationStatus": {"UNSPECIFIED": 0, "ACTIVATING": 1, "ACTIVATED": 2, "ACTIVATION_FAILED": 3},
	}
	for enum, want := range enums {
		ed := fd.Enums().ByName(protoreflect.Name(enum))
		require.NotNil(t, ed, enum)
		require.Equal(t, len(want), ed.Values().Len(), enum)
		for name, num := range want {
			v := ed.Values().ByName(protoreflect.Name(name))
			require.NotNil(t, v, enum+"."+name)
			require.Equal(t, num, v.Number(), enum+"."+name)
		}
	}
}
