// Package pb is the generated Go code of api/proto/device_management (committed, so builds need no protoc).
// Regenerate after editing the .proto, with protoc 3.21, protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.5.1 on
// PATH (GOBIN=$PWD/.cache/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
// google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1):
//
//	PATH=$PWD/.cache/bin:$PATH go generate ./internal/southbound/pb
package pb

//go:generate protoc -I ../../../api/proto --go_out=../../.. --go_opt=module=github.com/dmrm/dm-manager --go-grpc_out=../../.. --go-grpc_opt=module=github.com/dmrm/dm-manager device_management/device_management.proto
