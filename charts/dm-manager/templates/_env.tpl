{{/*
Environment that carries secrets. Every value comes from a secretKeyRef: the chart never sees a password, key,
token or credential-bearing URL.
*/}}

{{/* DM_DATABASE_URL: straight from a Secret, or composed by the kubelet from EMF's PG* Secret keys. */}}
{{- define "dm-manager.databaseEnv" -}}
{{- if .Values.database.pgSecret }}
{{- range $key := list "PGHOST" "PGPORT" "PGUSER" "PGPASSWORD" "PGDATABASE" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.database.pgSecret }}
      key: {{ $key }}
{{- end }}
# $(VAR) references are expanded by the kubelet from the variables above.
- name: DM_DATABASE_URL
  value: "host=$(PGHOST) port=$(PGPORT) user=$(PGUSER) password='$(PGPASSWORD)' dbname=$(PGDATABASE) sslmode={{ .Values.database.sslMode }}"
{{- else }}
- name: DM_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ required "database.urlKey is required" .Values.database.urlKey }}
{{- end }}
{{- end }}

{{/* Secrets backend: the embedded store's key, or Vault's address and credentials. */}}
{{- define "dm-manager.secretsEnv" -}}
{{- if eq .Values.secrets.backend "embedded" }}
- name: DM_SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.embedded.existingSecret }}
      key: {{ required "secrets.embedded.key is required" .Values.secrets.embedded.key }}
{{- else }}
{{- $v := .Values.secrets.vault }}
- name: VAULT_ADDR
  value: {{ required "secrets.vault.address is required" $v.address | quote }}
{{- if eq $v.auth "token" }}
- name: VAULT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $v.tokenSecret.name }}
      key: {{ $v.tokenSecret.key }}
{{- else if eq $v.auth "approle" }}
- name: VAULT_ROLE_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.approleSecret.name }}
      key: {{ $v.approleSecret.roleIDKey }}
- name: VAULT_SECRET_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.approleSecret.name }}
      key: {{ $v.approleSecret.secretIDKey }}
{{- end }}
{{- end }}
{{- end }}
