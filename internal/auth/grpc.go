package auth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata keys read from gRPC requests (lower-case, as gRPC normalises them).
const (
	MetadataAuthorization   = "authorization"
	MetadataActiveProjectID = "activeprojectid"
)

// UnaryServerInterceptor authenticates every call with the bearer token in metadata "authorization" and stores
// the claims in the context (ClaimsFromContext). Authorisation (roles, tenant) is left to the handlers, which know
// the tenant the call touches.
func UnaryServerInterceptor(v *Verifier) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c, err := v.Verify(ctx, BearerFromContext(ctx))
		if err != nil {
			return nil, GRPCError(err)
		}
		return handler(WithClaims(ctx, c), req)
	}
}

// BearerFromContext returns the bearer token of an incoming gRPC call's "authorization" metadata, or "".
func BearerFromContext(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	return bearer(first(md, MetadataAuthorization))
}

// ActiveProjectID returns the "activeprojectid" metadata value, or "".
func ActiveProjectID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	return first(md, MetadataActiveProjectID)
}

// GRPCError maps ErrUnauthenticated to codes.Unauthenticated and ErrForbidden to codes.PermissionDenied; other
// errors become codes.Internal.
func GRPCError(err error) error {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, ErrForbidden):
		return status.Error(codes.PermissionDenied, err.Error())
	default:
		return status.Error(codes.Internal, err.Error())
	}
}

func first(md metadata.MD, key string) string {
	if vals := md.Get(key); len(vals) > 0 {
		return vals[0]
	}
	return ""
}

// bearer strips a case-insensitive "Bearer " scheme; any other scheme yields "" (no token).
func bearer(header string) string {
	const scheme = "bearer "
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(header[len(scheme):])
}
