// Package pb is the generated Go code of api/proto/replica (committed, so builds need no protoc). Regenerate after
// editing the .proto with the tools named in internal/southbound/pb/generate.go:
//
//	PATH=$PWD/.cache/bin:$PATH go generate ./internal/replica/pb
package pb

//go:generate protoc -I ../../../api/proto --go_out=../../.. --go_opt=module=github.com/dmrm/dm-manager --go-grpc_out=../../.. --go-grpc_opt=module=github.com/dmrm/dm-manager replica/replica.proto
