{{/* Names, labels and the pieces every workload shares. */}}

{{- define "socialscalr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix for every object; the release name alone when it already
names the chart. Kept short enough for the role suffixes to fit 63 characters. */}}
{{- define "socialscalr.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "socialscalr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "socialscalr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: socialscalr
{{- end }}

{{/* Selector labels of one component: pass (dict "root" $ "component" "api-server"). */}}
{{- define "socialscalr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "socialscalr.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "socialscalr.componentLabels" -}}
{{ include "socialscalr.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "socialscalr.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* Secret names: the user's, or the one the chart makes. */}}
{{- define "socialscalr.databaseSecret" -}}
{{- if .Values.bundled.postgresql.enabled }}
{{- printf "%s-database" (include "socialscalr.fullname" .) }}
{{- else }}
{{- .Values.database.existingSecret }}
{{- end }}
{{- end }}

{{- define "socialscalr.databaseKey" -}}
{{- if .Values.bundled.postgresql.enabled }}url{{ else }}{{ .Values.database.urlKey }}{{ end }}
{{- end }}

{{- define "socialscalr.redisSecret" -}}
{{- if .Values.bundled.redis.enabled }}
{{- printf "%s-redis" (include "socialscalr.fullname" .) }}
{{- else }}
{{- .Values.redis.existingSecret }}
{{- end }}
{{- end }}

{{- define "socialscalr.redisKey" -}}
{{- if .Values.bundled.redis.enabled }}url{{ else }}{{ .Values.redis.urlKey }}{{ end }}
{{- end }}

{{- define "socialscalr.secretKeySecret" -}}
{{- default (printf "%s-secret-key" (include "socialscalr.fullname" .)) .Values.secretKey.existingSecret }}
{{- end }}

{{/* The store, Redis and the sealing key: what every role reads from Secrets. */}}
{{- define "socialscalr.connectionEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "socialscalr.databaseSecret" . }}
      key: {{ include "socialscalr.databaseKey" . }}
{{- if or .Values.bundled.redis.enabled .Values.redis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "socialscalr.redisSecret" . }}
      key: {{ include "socialscalr.redisKey" . }}
{{- end }}
- name: SOCIALSCALR_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "socialscalr.secretKeySecret" . }}
      key: {{ if .Values.secretKey.existingSecret }}{{ .Values.secretKey.key }}{{ else }}key{{ end }}
{{- end }}

{{- define "socialscalr.commonEnv" -}}
- name: SOCIALSCALR_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
- name: METRICS_ADDR
  value: {{ printf "0.0.0.0:%d" (int .Values.metrics.port) | quote }}
{{- end }}

{{/* Pod-level settings shared by the three roles: pass (dict "root" $ "role" .Values.x). */}}
{{- define "socialscalr.podPlacement" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .role.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The processes write nothing to disk but may want a scratch directory; the root
filesystem is read-only. */}}
{{- define "socialscalr.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "socialscalr.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "socialscalr.metricsProbes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 2
{{- end }}

{{/* The operator's leader Lease: one per release, so two releases never share a leader. */}}
{{- define "socialscalr.leaseName" -}}
{{- printf "%s-operator" (include "socialscalr.fullname" .) }}
{{- end }}
