package southbound

import (
	"context"
	"strings"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/internal/southbound/pb"
)

// AMT status texts written for agent reports (EMF dm-manager's wording, emf-conventions §1.4).
const (
	StatusActivating       = "AMT Activation In Progress"
	StatusActivated        = "AMT Activation Done"
	StatusActivationFailed = "AMT Activation Failed"
)

// maxStatusBytes is Inventory's limit for amt_status (compute.proto).
const maxStatusBytes = 1024

// ReportAMTStatus records which management engine the machine has: amt_sku AMT or ISM when ENABLED, UNSPECIFIED
// when DISABLED. An unchanged SKU is FailedPrecondition, which the agent treats as success.
func (s *Server) ReportAMTStatus(ctx context.Context, req *pb.AMTStatusRequest) (*pb.AMTStatusResponse, error) {
	tenant, guid, log, err := s.begin(ctx, req.GetHostId(), "ReportAMTStatus")
	if err != nil {
		return nil, err
	}
	sku, err := skuOf(req.GetStatus(), req.GetFeature())
	if err != nil {
		return nil, err
	}
	host, err := s.hosts.GetHostByUUID(ctx, tenant, guid)
	if err != nil {
		log.Warn().Err(err).Msg("host lookup failed")
		return nil, inventoryError(err, "host "+guid)
	}
	if host.GetAmtSku() == sku {
		return nil, status.Errorf(codes.FailedPrecondition, "AMT SKU %s already recorded", sku)
	}
	if err := s.hosts.SetAmtSku(ctx, tenant, host.GetResourceId(), sku); err != nil {
		log.Error().Err(err).Msg("recording AMT SKU failed")
		return nil, inventoryError(err, "host "+guid)
	}
	log.Info().Str("sku", sku.String()).Msg("AMT SKU recorded")
	return &pb.AMTStatusResponse{}, nil
}

// RetrieveActivationDetails tells the agent to activate AMT, with the profile and password rpc-go needs, when the
// user wants the host provisioned and it is not yet; otherwise FailedPrecondition ("nothing to do").
func (s *Server) RetrieveActivationDetails(ctx context.Context, req *pb.ActivationRequest) (*pb.ActivationDetailsResponse, error) {
	tenant, guid, log, err := s.begin(ctx, req.GetHostId(), "RetrieveActivationDetails")
	if err != nil {
		return nil, err
	}
	host, err := s.hosts.GetHostByUUID(ctx, tenant, guid)
	if err != nil {
		log.Warn().Err(err).Msg("host lookup failed")
		return nil, inventoryError(err, "host "+guid)
	}
	if !needsActivation(host) {
		return nil, status.Errorf(codes.FailedPrecondition, "no activation needed: desired AMT state %s, current %s",
			host.GetDesiredAmtState(), host.GetCurrentAmtState())
	}
	profile, err := s.profile(ctx, tenant, host.GetAmtControlMode())
	if err != nil {
		log.Error().Err(err).Msg("choosing activation profile failed")
		return nil, status.Error(codes.Unavailable, "cannot choose the activation profile now; retry later")
	}
	password, err := s.passwords.ActivationPassword(ctx, tenant, guid)
	if err != nil || password == "" {
		log.Error().Err(err).Msg("no activation password")
		return nil, status.Error(codes.Internal,
			"no AMT password is configured for this device's project; an administrator must set one")
	}
	log.Info().Str("profile", profile).Msg("activation details sent")
	return &pb.ActivationDetailsResponse{
		HostId: req.GetHostId(), Operation: pb.OperationType_ACTIVATE, ProfileName: profile, ActionPassword: password,
	}, nil
}

// ReportActivationResults records the agent's progress in the AMT status triplet while an activation is wanted.
// current_amt_state is not touched: the host reconciler sets PROVISIONED once the device is seen on the gateway.
// Once it has (current equals desired, PROVISIONED), reports are accepted and dropped: the reconciler's "AMT
// connected" must not be overwritten by an agent that has not noticed yet. A report can still race with that
// write, so after each write the host reconciler is asked to look again (Config.OnActivationReport).
func (s *Server) ReportActivationResults(ctx context.Context, req *pb.ActivationResultRequest) (*pb.ActivationResultResponse, error) {
	tenant, guid, log, err := s.begin(ctx, req.GetHostId(), "ReportActivationResults")
	if err != nil {
		return nil, err
	}
	text, ind, err := activationStatus(req.GetActivationStatus(), req.GetMessage())
	if err != nil {
		return nil, err
	}
	host, err := s.hosts.GetHostByUUID(ctx, tenant, guid)
	if err != nil {
		log.Warn().Err(err).Msg("host lookup failed")
		return nil, inventoryError(err, "host "+guid)
	}
	if activated(host) {
		log.Debug().Str("result", req.GetActivationStatus().String()).Msg("activation result dropped: AMT is provisioned")
		return &pb.ActivationResultResponse{}, nil
	}
	if !needsActivation(host) {
		return nil, status.Errorf(codes.FailedPrecondition, "no activation in progress: desired AMT state %s, current %s",
			host.GetDesiredAmtState(), host.GetCurrentAmtState())
	}
	if err := s.hosts.UpdateAMTStatusText(ctx, tenant, host.GetResourceId(), text, ind); err != nil {
		log.Error().Err(err).Msg("recording activation result failed")
		return nil, inventoryError(err, "host "+guid)
	}
	if s.onReport != nil {
		s.onReport(tenant, guid)
	}
	log.Info().Str("result", req.GetActivationStatus().String()).Msg("activation result recorded")
	return &pb.ActivationResultResponse{}, nil
}

// begin resolves tenant and GUID, and returns a logger carrying both.
func (s *Server) begin(ctx context.Context, hostID, rpc string) (string, string, zerolog.Logger, error) {
	tenant, err := s.tenant(ctx)
	if err != nil {
		s.log.Info().Str("rpc", rpc).Err(err).Msg("call refused")
		return "", "", s.log, err
	}
	guid, err := hostGUID(hostID)
	if err != nil {
		return "", "", s.log, err
	}
	return tenant, guid, s.log.With().Str("rpc", rpc).Str("tenant", tenant).Str("guid", guid).Logger(), nil
}

// needsActivation: the user wants AMT provisioned and the device has not been (DISCONNECTED means it was
// activated and lost its CIRA link; running rpc activate again would only fail "already activated").
func needsActivation(h *computev1.HostResource) bool {
	if h.GetDesiredAmtState() != computev1.AmtState_AMT_STATE_PROVISIONED {
		return false
	}
	switch h.GetCurrentAmtState() {
	case computev1.AmtState_AMT_STATE_UNSPECIFIED, computev1.AmtState_AMT_STATE_UNPROVISIONED:
		return true
	default:
		return false
	}
}

// activated: the activation the user wants is done (the host reconciler reported PROVISIONED).
func activated(h *computev1.HostResource) bool {
	return h.GetDesiredAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED &&
		h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED
}

// profile picks "<tenant>_acm" or "<tenant>_ccm": the user's amt_control_mode when set, else ACM exactly when
// the tenant has a domain certificate (ACM cannot work without one).
func (s *Server) profile(ctx context.Context, tenant string, mode computev1.AmtControlMode) (string, error) {
	switch mode {
	case computev1.AmtControlMode_AMT_CONTROL_MODE_ACM:
		return tenant + "_acm", nil
	case computev1.AmtControlMode_AMT_CONTROL_MODE_CCM:
		return tenant + "_ccm", nil
	}
	has, err := s.domains.HasDomain(ctx, tenant)
	if err != nil {
		return "", err
	}
	if has {
		return tenant + "_acm", nil
	}
	return tenant + "_ccm", nil
}

func skuOf(st pb.AMTStatus, feature string) (computev1.AmtSku, error) {
	switch st {
	case pb.AMTStatus_DISABLED:
		return computev1.AmtSku_AMT_SKU_UNSPECIFIED, nil
	case pb.AMTStatus_ENABLED:
		switch {
		case strings.EqualFold(feature, "AMT"):
			return computev1.AmtSku_AMT_SKU_AMT, nil
		case strings.EqualFold(feature, "ISM"):
			return computev1.AmtSku_AMT_SKU_ISM, nil
		case feature == "":
			return 0, status.Error(codes.InvalidArgument, "feature is required when status is ENABLED (AMT or ISM)")
		default:
			return 0, status.Errorf(codes.InvalidArgument, "feature %q is neither AMT nor ISM", feature)
		}
	default:
		return 0, status.Errorf(codes.InvalidArgument, "status %s is neither ENABLED nor DISABLED", st)
	}
}

func activationStatus(st pb.ActivationStatus, message string) (string, statusv1.StatusIndication, error) {
	switch st {
	case pb.ActivationStatus_ACTIVATING:
		return StatusActivating, statusv1.StatusIndication_STATUS_INDICATION_IN_PROGRESS, nil
	case pb.ActivationStatus_ACTIVATED:
		return StatusActivated, statusv1.StatusIndication_STATUS_INDICATION_IDLE, nil
	case pb.ActivationStatus_ACTIVATION_FAILED:
		text := StatusActivationFailed
		if m := strings.TrimSpace(message); m != "" {
			text = truncate(text+": "+m, maxStatusBytes)
		}
		return text, statusv1.StatusIndication_STATUS_INDICATION_ERROR, nil
	default:
		return "", 0, status.Errorf(codes.InvalidArgument, "activation_status %s is not a result", st)
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
