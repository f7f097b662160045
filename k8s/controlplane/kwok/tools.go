//go:build tools

// The command build.sh builds, imported so that `go mod tidy` keeps its dependencies.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
