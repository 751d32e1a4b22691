package depsmoke

import (
	"testing"

	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/oam"
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/policy/rbac"
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/tenant"
	_ "github.com/open-edge-platform/orch-library/go/pkg/controller/v2"
	_ "github.com/open-edge-platform/orch-library/go/pkg/auth"
	_ "github.com/open-edge-platform/orch-library/go/pkg/grpc/auth"
	_ "github.com/hashicorp/vault/api"
	_ "github.com/gorilla/websocket"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/cenkalti/backoff/v4"
	_ "github.com/stretchr/testify/require"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/rs/zerolog"
	_ "go.uber.org/goleak"
	_ "github.com/google/uuid"
	_ "golang.org/x/crypto/pkcs12"
	_ "github.com/golang-jwt/jwt/v5"
)

func TestX(t *testing.T) {}
