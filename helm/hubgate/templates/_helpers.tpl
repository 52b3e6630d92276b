{{/*
Helpers. Templates stay within a small subset of Helm (see helm/hubgate/README.md) so the unit tests can render
them without a helm binary.
*/}}

{{/* Chart name, truncated to 63 characters. */}}
{{- define "hubgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name, else "<release>-<chart>". */}}
{{- define "hubgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "hubgate.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "hubgate.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "hubgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "hubgate.labels" -}}
helm.sh/chart: {{ include "hubgate.chart" . }}
app.kubernetes.io/name: {{ include "hubgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hubgate
{{- end }}

{{/* Selector of the gateway pods (component keeps the optional Redis pods out). */}}
{{- define "hubgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hubgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "hubgate.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hubgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "hubgate.redis.fullname" -}}
{{- printf "%s-redis" (include "hubgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hubgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hubgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret with HARBOR_ADMIN_PASSWORD and HUBGATE_CREDENTIAL_SECRET. */}}
{{- define "hubgate.secretName" -}}
{{- default (include "hubgate.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "hubgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "hubgate.registryHost" -}}
{{- required "config.registryHost is required (the host users push to, e.g. hub.example.com)" .Values.config.registryHost }}
{{- end }}

{{- define "hubgate.publicUrl" -}}
{{- if .Values.config.publicUrl }}
{{- .Values.config.publicUrl }}
{{- else if and .Values.ingress.enabled (not .Values.ingress.tls.enabled) }}
{{- printf "http://%s" (include "hubgate.registryHost" .) }}
{{- else }}
{{- printf "https://%s" (include "hubgate.registryHost" .) }}
{{- end }}
{{- end }}

{{/* REDIS_URL for the ConfigMap: the in-chart Redis, or redis.url; empty when neither. */}}
{{- define "hubgate.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s:6379/0" (include "hubgate.redis.fullname" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/* Fails the rendering when the grace period does not cover the preStop sleep plus the drain timeout. */}}
{{- define "hubgate.checkGracePeriod" -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (add .Values.shutdown.drainTimeoutSeconds .Values.shutdown.preStopSleepSeconds) }}
{{- fail "terminationGracePeriodSeconds must be longer than shutdown.drainTimeoutSeconds + shutdown.preStopSleepSeconds" }}
{{- end }}
{{- end }}
