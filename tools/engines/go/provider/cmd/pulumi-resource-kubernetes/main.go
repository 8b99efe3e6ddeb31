// Command pulumi-resource-kubernetes serves the Kubernetes provider from its published module.
//
// The module's own main embeds files that its `go generate` writes beside it (a versioned copy of schema.json
// and a compact terraform mapping), which a build from the read-only module cache cannot do; so this main embeds
// the copies scripts/build-engines.sh writes here (git-ignored) and hands them to the provider's Serve.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
