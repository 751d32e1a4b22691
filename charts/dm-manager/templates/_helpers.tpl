{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "dm-manager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "dm-manager.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dm-manager.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dm-manager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dm-manager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dm-manager.labels" -}}
helm.sh/chart: {{ include "dm-manager.chart" . }}
{{ include "dm-manager.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edge-infrastructure-manager
{{- end }}

{{- define "dm-manager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dm-manager.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false (EMF: orch-svc)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dm-manager.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository }}
{{- end }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Namespace holding the Traefik routes, middlewares and TLS options. */}}
{{- define "dm-manager.traefikNamespace" -}}
{{- default .Release.Namespace .Values.traefik.namespace }}
{{- end }}

{{/* Host for a route: the explicit host, else <prefix>.<clusterDomain>. Call with (list $ host prefix). */}}
{{- define "dm-manager.host" -}}
{{- $root := index . 0 }}
{{- $host := index . 1 }}
{{- $prefix := index . 2 }}
{{- if $host }}
{{- $host }}
{{- else }}
{{- printf "%s.%s" $prefix (required "traefik.clusterDomain is required for default route hosts" $root.Values.traefik.clusterDomain) }}
{{- end }}
{{- end }}

{{/* Route TLS block: certificate secret and, when set, the TLSOption in the Traefik namespace. */}}
{{- define "dm-manager.routeTLS" -}}
tls:
  secretName: {{ required "traefik.tls.secretName is required" .Values.traefik.tls.secretName }}
  {{- with .Values.traefik.tls.options }}
  options:
    name: {{ . }}
    namespace: {{ include "dm-manager.traefikNamespace" $ }}
  {{- end }}
{{- end }}

{{/* Reference to the JWT middleware. */}}
{{- define "dm-manager.jwtMiddleware" -}}
- name: {{ required "traefik.jwtMiddleware is required" .Values.traefik.jwtMiddleware }}
  namespace: {{ include "dm-manager.traefikNamespace" . }}
{{- end }}

{{/* Flag value checks that the schema cannot express; fail early with the value to change. */}}
{{/* "true" when the replica API is on: replica.enabled true, or auto with replicaCount > 1. */}}
{{- define "dm-manager.replicaEnabled" -}}
{{- $e := toString .Values.replica.enabled }}
{{- if or (eq $e "true") (and (eq $e "auto") (gt (int .Values.replicaCount) 1)) }}true{{ end }}
{{- end }}

{{- define "dm-manager.validate" -}}
{{- if and (include "dm-manager.replicaEnabled" .) (not .Values.replica.secret.existingSecret) }}
{{- fail "replica.secret.existingSecret is required when the replica API is on (replicaCount > 1 or replica.enabled): a Secret holding DM_REPLICA_SECRET" }}
{{- end }}
{{- if lt (sub (int .Values.terminationGracePeriodSeconds) (int .Values.shutdownMarginSeconds)) 1 }}
{{- fail "terminationGracePeriodSeconds must exceed shutdownMarginSeconds: -shutdownTimeout is their difference" }}
{{- end }}
{{- if and (not .Values.advertise.infraConfig.enabled) (not .Values.advertise.ciraServerAddress) }}
{{- fail "advertise.ciraServerAddress is required when advertise.infraConfig.enabled is false: AMT needs the gateway host:port" }}
{{- end }}
{{- if and (not .Values.advertise.infraConfig.enabled) (not .Values.advertise.activationURL) }}
{{- fail "advertise.activationURL is required when advertise.infraConfig.enabled is false: node agents need the wss:// activation URL" }}
{{- end }}
{{- if and .Values.database.pgSecret .Values.database.existingSecret }}
{{- fail "set only one of database.existingSecret (whole URL) and database.pgSecret (PG* keys)" }}
{{- end }}
{{- if not (or .Values.database.pgSecret .Values.database.existingSecret) }}
{{- fail "database.existingSecret (Secret with the connection URL) or database.pgSecret (Secret with PG* keys) is required" }}
{{- end }}
{{- if and (eq .Values.secrets.backend "embedded") (not .Values.secrets.embedded.existingSecret) }}
{{- fail "secrets.embedded.existingSecret is required with secrets.backend=embedded (Secret holding the 32-byte base64 key)" }}
{{- end }}
{{- if and (eq .Values.secrets.backend "vault") (eq .Values.secrets.vault.auth "token") (not .Values.secrets.vault.tokenSecret.name) }}
{{- fail "secrets.vault.tokenSecret.name is required with secrets.vault.auth=token" }}
{{- end }}
{{- if and (eq .Values.secrets.backend "vault") (eq .Values.secrets.vault.auth "approle") (not .Values.secrets.vault.approleSecret.name) }}
{{- fail "secrets.vault.approleSecret.name is required with secrets.vault.auth=approle" }}
{{- end }}
{{- if and (not .Values.inventory.insecureGRPC) (not .Values.inventory.tlsSecretName) }}
{{- fail "inventory.tlsSecretName is required when inventory.insecureGRPC is false" }}
{{- end }}
{{- end }}

{{/*
GOMEMLIMIT: 90% of the container's memory limit (resources.limits.memory, a plain number or Ki/Mi/Gi/K/M/G), in
bytes, so the Go runtime collects harder as the process nears the limit instead of being OOM-killed; the rest
is headroom for memory the runtime does not count. Empty without a limit it can read.
*/}}
{{- define "dm-manager.goMemLimit" -}}
{{- $lim := toString (dig "limits" "memory" "" (.Values.resources | default dict)) -}}
{{- $num := regexFind "^[0-9]+" $lim -}}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "K" 1000 "M" 1000000 "G" 1000000000 -}}
{{- $unit := trimPrefix $num $lim -}}
{{- if and $num (hasKey $units $unit) -}}
{{- div (mul (atoi $num) (get $units $unit) 9) 10 -}}
{{- end -}}
{{- end }}
