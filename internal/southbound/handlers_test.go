package southbound_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/southbound"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/test/invtest"
)

func wantVPro(mode computev1.AmtControlMode) func(*computev1.HostResource) {
	return func(h *computev1.HostResource) {
		h.DesiredAmtState = computev1.AmtState_AMT_STATE_PROVISIONED
		h.AmtControlMode = mode
	}
}

func readHost(t *testing.T, e *env, tenant, resourceID string) *computev1.HostResource {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := e.inv.GetHost(ctx, tenant, resourceID)
	require.NoError(t, err)
	return h
}

func TestReportAMTStatus(t *testing.T) {
	e := newEnv(t, true)
	tenant := uuid.NewString()
	host := invtest.DAO(t).CreateHost(t, tenant)
	tok := agentToken(t, tenant)
	guid := host.GetUuid()

	tests := []struct {
		name    string
		req     *pb.AMTStatusRequest
		code    codes.Code
		wantSku computev1.AmtSku
	}{
		{"AMT", &pb.AMTStatusRequest{HostId: guid, Status: pb.AMTStatus_ENABLED, Feature: "AMT"}, codes.OK, computev1.AmtSku_AMT_SKU_AMT},
		{"unchanged", &pb.AMTStatusRequest{HostId: guid, Status: pb.AMTStatus_ENABLED, Feature: "AMT"}, codes.FailedPrecondition, computev1.AmtSku_AMT_SKU_AMT},
		{"ISM, upper-case GUID", &pb.AMTStatusRequest{HostId: strings.ToUpper(guid), Status: pb.AMTStatus_ENABLED, Feature: "ISM"}, codes.OK, computev1.AmtSku_AMT_SKU_ISM},
		{"disabled", &pb.AMTStatusRequest{HostId: guid, Status: pb.AMTStatus_DISABLED}, codes.OK, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
		{"empty host_id", &pb.AMTStatusRequest{Status: pb.AMTStatus_ENABLED, Feature: "AMT"}, codes.InvalidArgument, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
		{"host_id not a UUID", &pb.AMTStatusRequest{HostId: "host-1", Status: pb.AMTStatus_ENABLED, Feature: "AMT"}, codes.InvalidArgument, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
		{"empty feature", &pb.AMTStatusRequest{HostId: guid, Status: pb.AMTStatus_ENABLED}, codes.InvalidArgument, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
		{"unknown feature", &pb.AMTStatusRequest{HostId: guid, Status: pb.AMTStatus_ENABLED, Feature: "vPro"}, codes.InvalidArgument, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
		{"unknown status", &pb.AMTStatusRequest{HostId: guid, Feature: "AMT"}, codes.InvalidArgument, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
		{"unknown host", &pb.AMTStatusRequest{HostId: uuid.NewString(), Status: pb.AMTStatus_ENABLED, Feature: "AMT"}, codes.NotFound, computev1.AmtSku_AMT_SKU_UNSPECIFIED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ReportAMTStatus(agentCtx(t, tok), tc.req)
			require.Equal(t, tc.code, status.Code(err), "err: %v", err)
			require.Equal(t, tc.wantSku, readHost(t, e, tenant, host.GetResourceId()).GetAmtSku())
		})
	}
}

func TestRetrieveActivationDetails(t *testing.T) {
	e := newEnv(t, true)
	tenant := uuid.NewString()
	tok := agentToken(t, tenant)
	const pw = "Tenant-AMT-pw-1!"
	e.passwords.pw[tenant] = pw

	unspecified := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_UNSPECIFIED))
	acm := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_ACM))
	ccm := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_CCM))
	noVPro := invtest.DAO(t).CreateHost(t, tenant)
	provisioned := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_CCM))
	disconnected := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_CCM))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for h, st := range map[*computev1.HostResource]computev1.AmtState{
		provisioned:  computev1.AmtState_AMT_STATE_PROVISIONED,
		disconnected: computev1.AmtState_AMT_STATE_DISCONNECTED,
		ccm:          computev1.AmtState_AMT_STATE_UNPROVISIONED,
	} {
		_, err := e.inv.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{AMT: &inventory.AMTReport{Current: st, Status: "x"}})
		require.NoError(t, err)
	}

	tests := []struct {
		name      string
		host      *computev1.HostResource
		hasDomain bool
		code      codes.Code
		profile   string
	}{
		{"CCM by default without a domain", unspecified, false, codes.OK, tenant + "_ccm"},
		{"ACM by default with a domain", unspecified, true, codes.OK, tenant + "_acm"},
		{"user chose ACM", acm, false, codes.OK, tenant + "_acm"},
		{"user chose CCM, currently unprovisioned", ccm, true, codes.OK, tenant + "_ccm"},
		{"no vPro wanted", noVPro, false, codes.FailedPrecondition, ""},
		{"already provisioned", provisioned, false, codes.FailedPrecondition, ""},
		{"provisioned but disconnected", disconnected, false, codes.FailedPrecondition, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.domains.mu.Lock()
			e.domains.has[tenant] = tc.hasDomain
			e.domains.mu.Unlock()
			resp, err := e.client.RetrieveActivationDetails(agentCtx(t, tok), &pb.ActivationRequest{HostId: tc.host.GetUuid()})
			require.Equal(t, tc.code, status.Code(err), "err: %v", err)
			if tc.code != codes.OK {
				return
			}
			require.Equal(t, pb.OperationType_ACTIVATE, resp.GetOperation())
			require.Equal(t, tc.profile, resp.GetProfileName())
			require.Equal(t, pw, resp.GetActionPassword())
			require.Equal(t, tc.host.GetUuid(), resp.GetHostId())
		})
	}
	require.NotContains(t, e.logs.String(), pw, "the AMT password never reaches the logs")

	t.Run("errors", func(t *testing.T) {
		call := func() error {
			_, err := e.client.RetrieveActivationDetails(agentCtx(t, tok), &pb.ActivationRequest{HostId: unspecified.GetUuid()})
			return err
		}
		e.domains.mu.Lock()
		e.domains.err = errors.New("store down")
		e.domains.mu.Unlock()
		require.Equal(t, codes.Unavailable, status.Code(call()))
		e.domains.mu.Lock()
		e.domains.err = nil
		e.domains.mu.Unlock()

		e.passwords.mu.Lock()
		e.passwords.err = errors.New("vault sealed")
		e.passwords.mu.Unlock()
		require.Equal(t, codes.Internal, status.Code(call()))
		e.passwords.mu.Lock()
		e.passwords.err = nil
		e.passwords.mu.Unlock()

		_, err := e.client.RetrieveActivationDetails(agentCtx(t, tok), &pb.ActivationRequest{})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
		_, err = e.client.RetrieveActivationDetails(agentCtx(t, tok), &pb.ActivationRequest{HostId: uuid.NewString()})
		require.Equal(t, codes.NotFound, status.Code(err))
	})
}

func TestReportActivationResults(t *testing.T) {
	e := newEnv(t, true)
	tenant := uuid.NewString()
	tok := agentToken(t, tenant)
	host := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_CCM))
	noVPro := invtest.DAO(t).CreateHost(t, tenant)

	tests := []struct {
		name   string
		host   *computev1.HostResource
		status pb.ActivationStatus
		msg    string
		code   codes.Code
		text   string
		ind    statusv1.StatusIndication
	}{
		{"activating", host, pb.ActivationStatus_ACTIVATING, "", codes.OK, southbound.StatusActivating, statusv1.StatusIndication_STATUS_INDICATION_IN_PROGRESS},
		{"activated", host, pb.ActivationStatus_ACTIVATED, "", codes.OK, southbound.StatusActivated, statusv1.StatusIndication_STATUS_INDICATION_IDLE},
		{"failed", host, pb.ActivationStatus_ACTIVATION_FAILED, "", codes.OK, southbound.StatusActivationFailed, statusv1.StatusIndication_STATUS_INDICATION_ERROR},
		{"failed with reason", host, pb.ActivationStatus_ACTIVATION_FAILED, "Unable to authenticate with AMT", codes.OK,
			southbound.StatusActivationFailed + ": Unable to authenticate with AMT", statusv1.StatusIndication_STATUS_INDICATION_ERROR},
		{"long reason is cut to Inventory's limit", host, pb.ActivationStatus_ACTIVATION_FAILED, strings.Repeat("é", 800), codes.OK,
			"", statusv1.StatusIndication_STATUS_INDICATION_ERROR},
		{"unspecified", host, pb.ActivationStatus_UNSPECIFIED, "", codes.InvalidArgument, "", 0},
		{"no activation wanted", noVPro, pb.ActivationStatus_ACTIVATED, "", codes.FailedPrecondition, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := readHost(t, e, tenant, tc.host.GetResourceId())
			_, err := e.client.ReportActivationResults(agentCtx(t, tok), &pb.ActivationResultRequest{
				HostId: tc.host.GetUuid(), ActivationStatus: tc.status, Message: tc.msg,
			})
			require.Equal(t, tc.code, status.Code(err), "err: %v", err)
			after := readHost(t, e, tenant, tc.host.GetResourceId())
			require.Equal(t, before.GetCurrentAmtState(), after.GetCurrentAmtState(), "current_amt_state belongs to the reconciler")
			if tc.code != codes.OK {
				require.Equal(t, before.GetAmtStatus(), after.GetAmtStatus())
				require.Empty(t, e.reports.take(), "nothing written, the reconciler is not asked")
				return
			}
			require.Equal(t, []string{tenant + "/" + tc.host.GetUuid()}, e.reports.take(), "the reconciler is asked to look again")
			if tc.text != "" {
				require.Equal(t, tc.text, after.GetAmtStatus())
			} else {
				require.LessOrEqual(t, len(after.GetAmtStatus()), 1024)
				require.True(t, strings.HasPrefix(after.GetAmtStatus(), southbound.StatusActivationFailed+": é"))
			}
			require.Equal(t, tc.ind, after.GetAmtStatusIndicator())
			require.NotZero(t, after.GetAmtStatusTimestamp())
		})
	}
}

// TestReportActivationResultsProvisioned: once the host reconciler reported PROVISIONED, the agent's late reports
// are accepted and dropped, so "AMT connected" stays.
func TestReportActivationResultsProvisioned(t *testing.T) {
	e := newEnv(t, true)
	tenant := uuid.NewString()
	tok := agentToken(t, tenant)
	host := invtest.DAO(t).CreateHost(t, tenant, wantVPro(computev1.AmtControlMode_AMT_CONTROL_MODE_CCM))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := e.inv.UpdateStatusOf(ctx, tenant, host, inventory.StatusReport{AMT: &inventory.AMTReport{
		Current: computev1.AmtState_AMT_STATE_PROVISIONED, Status: "AMT connected",
		Indicator: statusv1.StatusIndication_STATUS_INDICATION_IDLE,
	}})
	require.NoError(t, err)
	before := readHost(t, e, tenant, host.GetResourceId())
	for _, st := range []pb.ActivationStatus{pb.ActivationStatus_ACTIVATING, pb.ActivationStatus_ACTIVATED,
		pb.ActivationStatus_ACTIVATION_FAILED} {
		_, err := e.client.ReportActivationResults(agentCtx(t, tok), &pb.ActivationResultRequest{
			HostId: host.GetUuid(), ActivationStatus: st, Message: "late",
		})
		require.NoError(t, err, st.String())
	}
	after := readHost(t, e, tenant, host.GetResourceId())
	require.Equal(t, "AMT connected", after.GetAmtStatus())
	require.Equal(t, statusv1.StatusIndication_STATUS_INDICATION_IDLE, after.GetAmtStatusIndicator())
	require.Equal(t, before.GetAmtStatusTimestamp(), after.GetAmtStatusTimestamp(), "no write at all")
	require.Empty(t, e.reports.take(), "nothing written, the reconciler is not asked")

	// Still validated first: a malformed report is refused even then.
	_, err = e.client.ReportActivationResults(agentCtx(t, tok), &pb.ActivationResultRequest{HostId: host.GetUuid()})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
}
