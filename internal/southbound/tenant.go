package southbound

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/auth"
)

// tenant resolves the project a call acts for and asks the RBAC policy whether the token has agent access there.
// With auth on, "activeprojectid" may only select one of the token's own projects (auth.Claims.TenantFor).
func (s *Server) tenant(ctx context.Context) (string, error) {
	active := auth.ActiveProjectID(ctx)
	if s.verifier == nil {
		return unverifiedTenant(ctx, active)
	}
	claims, ok := auth.ClaimsFromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no validated token")
	}
	t, err := claims.TenantFor(ctx, active)
	if err != nil {
		return "", auth.GRPCError(err)
	}
	return t, nil
}

// unverifiedTenant is -enableAuth=false: like EMF, the tenant is the activeprojectid metadata, else the project of
// the (unchecked) token's en-agent-rw roles; no policy is asked.
func unverifiedTenant(ctx context.Context, active string) (string, error) {
	if id, err := uuid.Parse(active); err == nil {
		return id.String(), nil
	}
	c, err := auth.UnverifiedClaims(auth.BearerFromContext(ctx))
	if err != nil {
		return "", status.Error(codes.Unauthenticated,
			"no tenant: send activeprojectid metadata or a token with a <project>_en-agent-rw role")
	}
	t, err := auth.TenantFromRoles(c.Roles, auth.RoleENAgentRW)
	if err != nil {
		return "", auth.GRPCError(err)
	}
	return t, nil
}

// hostGUID validates host_id as a UUID and returns it in canonical lower-case form (contracts: device identity);
// dmidecode prints SMBIOS UUIDs upper-case.
func hostGUID(hostID string) (string, error) {
	if strings.TrimSpace(hostID) == "" {
		return "", status.Error(codes.InvalidArgument, "host_id is required")
	}
	id, err := uuid.Parse(hostID)
	if err != nil {
		return "", status.Errorf(codes.InvalidArgument, "host_id %q is not a UUID", hostID)
	}
	return id.String(), nil
}

// inventoryError maps an Inventory failure to what the agent should do: NotFound stays NotFound; Inventory being
// away becomes Unavailable (the agent retries); anything else is our fault (Internal).
func inventoryError(err error, what string) error {
	switch status.Code(err) {
	case codes.NotFound:
		return status.Errorf(codes.NotFound, "%s not found", what)
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return status.Errorf(codes.Unavailable, "inventory unavailable while handling %s; retry later", what)
	default:
		return status.Errorf(codes.Internal, "inventory error while handling %s", what)
	}
}
