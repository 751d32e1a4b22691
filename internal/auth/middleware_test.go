package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
)

func TestGRPCInterceptor(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	icpt := auth.UnaryServerInterceptor(v)
	handler := func(ctx context.Context, _ any) (any, error) {
		c, ok := auth.ClaimsFromContext(ctx)
		require.True(t, ok)
		tenant, err := c.TenantFor(ctx, auth.ActiveProjectID(ctx))
		if err != nil {
			return nil, auth.GRPCError(err)
		}
		return tenant, nil
	}
	call := func(md metadata.MD) (any, error) {
		ctx := metadata.NewIncomingContext(context.Background(), md)
		return icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, handler)
	}
	agent := "Bearer " + authtest.HS256(t, authtest.Claims(authtest.ENRoles(tenantA)...))

	got, err := call(metadata.Pairs("authorization", agent))
	require.NoError(t, err)
	require.Equal(t, tenantA, got)

	_, err = call(metadata.MD{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	_, err = call(metadata.Pairs("authorization", agent, "activeprojectid", tenantB))
	require.Equal(t, codes.PermissionDenied, status.Code(err))
}
