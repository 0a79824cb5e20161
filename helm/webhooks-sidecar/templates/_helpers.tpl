{{/* Names and labels, the usual way: <release>-<chart> unless overridden, at most 63 characters. */}}
{{- define "webhooks-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webhooks-sidecar.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "webhooks-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webhooks-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webhooks-sidecar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "webhooks-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "webhooks-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "webhooks-sidecar.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
repository@digest when a digest is pinned (the tag is then ignored: the digest alone names the
image), repository:tag otherwise. The version label above is the chart's appVersion, not the tag: a
label value must be at most 63 characters with no "@" or ":", and a tag may be 128.
*/}}
{{- define "webhooks-sidecar.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the connection string, the tokens and the encryption key: yours, or the chart's. */}}
{{- define "webhooks-sidecar.secretName" -}}
{{- default (include "webhooks-sidecar.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
Every non-secret setting, as the environment the sidecar reads (README "Configuration"). Numbers
go through int64: Helm reads values as float64, and 86400000 would otherwise print as 8.64e+07.
*/}}
{{- define "webhooks-sidecar.config" -}}
{{- $c := .Values.config -}}
WEBHOOKS_GRPC_ADDR: {{ printf "%s:%d" $c.listenHost ($c.grpcPort | int64) | quote }}
WEBHOOKS_METRICS_ADDR: {{ printf "%s:%d" $c.listenHost ($c.metricsPort | int64) | quote }}
WEBHOOKS_MAX_RETRIES: {{ $c.maxRetries | int64 | quote }}
WEBHOOKS_RETRY_BASE_MS: {{ $c.retryBaseMs | int64 | quote }}
WEBHOOKS_REQUEST_TIMEOUT_MS: {{ $c.requestTimeoutMs | int64 | quote }}
WEBHOOKS_ALLOWED_CIDRS: {{ $c.allowedCidrs | quote }}
WEBHOOKS_MAX_EVENT_BYTES: {{ $c.maxEventBytes | int64 | quote }}
WEBHOOKS_DELIVERY_CONCURRENCY: {{ $c.deliveryConcurrency | int64 | quote }}
WEBHOOKS_POLL_INTERVAL_MS: {{ $c.pollIntervalMs | int64 | quote }}
WEBHOOKS_MAX_IN_FLIGHT_PER_WEBHOOK: {{ $c.maxInFlightPerWebhook | int64 | quote }}
WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT: {{ $c.maxInFlightPerTenant | int64 | quote }}
WEBHOOKS_SECRET_OVERLAP_MS: {{ $c.secretOverlapMs | int64 | quote }}
WEBHOOKS_DISABLE_AFTER_FAILURES: {{ $c.disableAfterFailures | int64 | quote }}
WEBHOOKS_DISABLE_AFTER_MS: {{ $c.disableAfterMs | int64 | quote }}
WEBHOOKS_RETENTION_DAYS: {{ $c.retentionDays | int64 | quote }}
WEBHOOKS_SHUTDOWN_GRACE_MS: {{ $c.shutdownGraceMs | int64 | quote }}
WEBHOOKS_QUEUE_METRICS_INTERVAL_MS: {{ $c.queueMetricsIntervalMs | int64 | quote }}
WEBHOOKS_METRICS_WEBHOOK_SERIES: {{ $c.metricsWebhookSeries | int64 | quote }}
WEBHOOKS_LOG_LEVEL: {{ $c.logLevel | quote }}
WEBHOOKS_EVENT_BODIES: {{ $c.eventBodies | quote }}
{{- $t := .Values.dbTls }}
{{- if and (eq $t.mode "off") (or $t.secretName $t.clientCertificate) }}
{{- fail "dbTls.secretName and dbTls.clientCertificate need dbTls.mode verify-ca or verify-identity" }}
{{- end }}
{{- if and (eq $t.mode "verify-ca") (not $t.secretName) }}
{{- fail "dbTls.secretName is required with dbTls.mode verify-ca: a Secret whose ca.crt signed the server's certificate" }}
{{- end }}
{{- if and $t.clientCertificate (not $t.secretName) }}
{{- fail "dbTls.secretName is required with dbTls.clientCertificate: a Secret with tls.crt and tls.key" }}
{{- end }}
WEBHOOKS_DB_TLS: {{ $t.mode | quote }}
{{- if $t.secretName }}
WEBHOOKS_DB_TLS_CA_FILE: "/etc/webhooks/db-tls/ca.crt"
{{- if $t.clientCertificate }}
WEBHOOKS_DB_TLS_CERT_FILE: "/etc/webhooks/db-tls/tls.crt"
WEBHOOKS_DB_TLS_KEY_FILE: "/etc/webhooks/db-tls/tls.key"
{{- end }}
{{- end }}
{{- range $name, $value := .Values.otel.env }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The secret settings; the chart's Secret and the migration hook's copy of it. */}}
{{- define "webhooks-sidecar.secretData" -}}
{{- $s := .Values.secrets -}}
WEBHOOKS_DB_URL: {{ required "secrets.dbUrl is required (mysql://user:pass@host:3306/db), or set secrets.existingSecret" $s.dbUrl | b64enc | quote }}
WEBHOOKS_INGEST_TOKEN: {{ required "secrets.ingestToken is required (16+ printable characters), or set secrets.existingSecret" $s.ingestToken | b64enc | quote }}
WEBHOOKS_ADMIN_TOKEN: {{ required "secrets.adminToken is required (16+ printable characters), or set secrets.existingSecret" $s.adminToken | b64enc | quote }}
WEBHOOKS_ENCRYPTION_KEY: {{ required "secrets.encryptionKey is required (openssl rand -base64 32), or set secrets.existingSecret" $s.encryptionKey | b64enc | quote }}
{{- if $s.platformToken }}
WEBHOOKS_PLATFORM_TOKEN: {{ $s.platformToken | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* The TLS files' variables, when the gRPC server uses TLS. */}}
{{- define "webhooks-sidecar.tlsEnv" -}}
{{- if .Values.tls.enabled }}
- name: WEBHOOKS_TLS_CERT_FILE
  value: /etc/webhooks/tls/tls.crt
- name: WEBHOOKS_TLS_KEY_FILE
  value: /etc/webhooks/tls/tls.key
{{- if .Values.tls.requireClientCertificates }}
- name: WEBHOOKS_TLS_CLIENT_CA_FILE
  value: /etc/webhooks/tls/ca.crt
{{- end }}
{{- end }}
{{- end -}}
