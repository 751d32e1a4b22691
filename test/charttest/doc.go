// Package charttest checks the Helm chart in charts/dm-manager: it lints and renders the chart with the default,
// EMF and test values using a helm binary built from the pinned module in test/tools/helm (cached in .cache/bin),
// then asserts the rendered Kubernetes objects: ports, Traefik routes, security context, probes, network policy
// and that secrets are only ever referenced, never rendered.
package charttest
