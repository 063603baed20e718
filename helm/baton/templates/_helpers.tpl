{{/* Names, labels, images and the pieces every Baton pod shares. */}}

{{- define "baton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; components append "-scheduler" etc., so keep room. */}}
{{- define "baton.fullname" -}}
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

{{- define "baton.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. Call with (dict "ctx" $ "component" "scheduler"). */}}
{{- define "baton.labels" -}}
helm.sh/chart: {{ include "baton.chart" .ctx }}
{{ include "baton.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: baton
{{- end }}

{{/* Selector labels: name, instance and component. */}}
{{- define "baton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "baton.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "baton.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "baton.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference. Call with (dict "ctx" $ "image" .Values.scheduler.image):
registry and tag fall back to .Values.image, the tag to the appVersion; a
digest wins over the tag.
*/}}
{{- define "baton.image" -}}
{{- $registry := default .ctx.Values.image.registry .image.registry }}
{{- $ref := .image.repository }}
{{- if $registry }}
{{- $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" $ref .image.digest }}
{{- else }}
{{- printf "%s:%s" $ref (toString (default (default .ctx.Chart.AppVersion .ctx.Values.image.tag) .image.tag)) }}
{{- end }}
{{- end }}

{{- define "baton.brokerHost" -}}
{{- printf "%s-broker" (include "baton.fullname" .) }}
{{- end }}

{{- define "baton.schedulerHost" -}}
{{- printf "%s-scheduler" (include "baton.fullname" .) }}
{{- end }}

{{/* Where the scheduler and the workers dial the broker. */}}
{{- define "baton.brokerAddress" -}}
{{- printf "tcp://%s:%v" (include "baton.brokerHost" .) .Values.broker.service.port }}
{{- end }}

{{/* Where clients (batonctl, your applications) dial the scheduler. */}}
{{- define "baton.schedulerAddress" -}}
{{- printf "tcp://%s:%v" (include "baton.schedulerHost" .) .Values.scheduler.service.port }}
{{- end }}

{{/*
Pod-level fields shared by every Baton pod. Call with (dict "ctx" $) or
(dict "ctx" $ "serviceAccount" NAME) to use another ServiceAccount.
*/}}
{{- define "baton.podCommon" -}}
serviceAccountName: {{ default (include "baton.serviceAccountName" .ctx) .serviceAccount }}
automountServiceAccountToken: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Scheduling fields of one component's values. */}}
{{- define "baton.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{/* prometheus.io/* pod annotations for a Prometheus without the operator. */}}
{{- define "baton.scrapeAnnotations" -}}
{{- if and .ctx.Values.monitoring.scrapeAnnotations (not .ctx.Values.monitoring.serviceMonitor.enabled) }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* The /healthz and /readyz probes every Baton process serves on its metrics port. */}}
{{- define "baton.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end }}

{{/* The name of the Secret holding the database URL or credentials. */}}
{{- define "baton.dbSecretName" -}}
{{- if .Values.postgresql.evaluation.enabled }}
{{- printf "%s-postgresql" (include "baton.fullname" .) }}
{{- else }}
{{- required "postgresql.external.existingSecret: name the Secret with the database URL or credentials" .Values.postgresql.external.existingSecret }}
{{- end }}
{{- end }}

{{/*
The database environment of the scheduler and the migration: BATON_DB_URL,
plus libpq's own PG* variables for what the URL leaves out (credentials when
host is set, sslmode, the CA file).
*/}}
{{- define "baton.dbEnv" -}}
{{- $secret := include "baton.dbSecretName" . }}
{{- if .Values.postgresql.evaluation.enabled }}
- name: BATON_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: url
{{- else }}
{{- $ext := .Values.postgresql.external }}
{{- if $ext.host }}
- name: BATON_DB_URL
  value: {{ printf "postgresql://%s:%v/%s" $ext.host $ext.port (urlquery $ext.database) | quote }}
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ext.usernameKey }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ext.passwordKey }}
{{- else }}
- name: BATON_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ext.urlKey }}
{{- end }}
- name: PGSSLMODE
  value: {{ $ext.sslmode | quote }}
{{- if $ext.caSecret }}
- name: PGSSLROOTCERT
  value: /etc/baton/postgresql-ca/{{ $ext.caKey }}
{{- end }}
{{- end }}
{{- end }}

{{- define "baton.dbVolumes" -}}
{{- if and (not .Values.postgresql.evaluation.enabled) .Values.postgresql.external.caSecret }}
- name: postgresql-ca
  secret:
    secretName: {{ .Values.postgresql.external.caSecret }}
{{- end }}
{{- end }}

{{- define "baton.dbVolumeMounts" -}}
{{- if and (not .Values.postgresql.evaluation.enabled) .Values.postgresql.external.caSecret }}
- name: postgresql-ca
  mountPath: /etc/baton/postgresql-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* The migration container (hook Job, or scheduler init container with the evaluation database). */}}
{{- define "baton.migrateContainer" -}}
- name: migrate
  image: {{ include "baton.image" (dict "ctx" . "image" .Values.scheduler.image) }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["/usr/local/bin/baton-scheduler", "migrate"]
  env:
    {{- include "baton.dbEnv" . | trim | nindent 4 }}
  {{- with .Values.containerSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  resources:
    {{- toYaml .Values.migrations.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- with include "baton.dbVolumeMounts" . | trim }}{{ . | nindent 4 }}{{ end }}
{{- end }}

{{/* A PromQL string literal's content for a regex matching exactly these names. */}}
{{- define "baton.promRegexAlternatives" -}}
{{- $parts := list }}
{{- range . }}
{{- $parts = append $parts (regexQuoteMeta . | replace "\\" "\\\\" | replace "\"" "\\\"") }}
{{- end }}
{{- join "|" $parts }}
{{- end }}

{{/* The queue-depth query KEDA scales the workers on. */}}
{{- define "baton.kedaQuery" -}}
{{- if .Values.workers.autoscaling.keda.query }}
{{- .Values.workers.autoscaling.keda.query }}
{{- else }}
{{- /* Every scheduler replica samples the same backlog: max, not sum, across them. */}}
{{- printf "sum(max by (namespace, task_queue, kind) (baton_backlog_tasks{namespace=\"%s\",task_queue=~\"%s\"}))" (.Values.batonNamespace | replace "\\" "\\\\" | replace "\"" "\\\"") (include "baton.promRegexAlternatives" .Values.workers.taskQueues) }}
{{- end }}
{{- end }}

{{/*
security.*: key pair files and clients files from Secrets (or ConfigMaps) the
user creates, mounted read-only under /etc/baton, one file per volume (only
the named key is projected).
*/}}
{{- define "baton.keyPairPath" -}}/etc/baton/curve/keypair.toml{{- end }}
{{- define "baton.clientsPath" -}}/etc/baton/clients/clients.toml{{- end }}

{{/* Readable by the pod's fsGroup only when there is one, else by everyone in the container. */}}
{{- define "baton.keyFileMode" -}}
{{- if (.Values.podSecurityContext | default dict).fsGroup }}288{{/* 0440 */}}{{ else }}292{{/* 0444 */}}{{ end }}
{{- end }}

{{/*
A volume holding one file. Call with (dict "ctx" $ "name" NAME "src" SOURCE
"file" FILE "what" VALUES-PATH): SOURCE has secret (or configMap) and key.
*/}}
{{- define "baton.fileVolume" -}}
- name: {{ .name }}
  {{- if .src.secret }}
  secret:
    secretName: {{ .src.secret }}
  {{- else }}
  configMap:
    name: {{ required (printf "%s: name the Secret (or ConfigMap) holding the file" .what) .src.configMap }}
  {{- end }}
    defaultMode: {{ include "baton.keyFileMode" .ctx }}
    items:
      - key: {{ .src.key | quote }}
        path: {{ .file }}
{{- end }}

{{- define "baton.keyPairVolume" -}}
{{- include "baton.fileVolume" (dict "ctx" .ctx "name" "baton-curve-key" "src" .src "file" (base (include "baton.keyPairPath" .ctx)) "what" .what) }}
{{- end }}

{{- define "baton.clientsVolume" -}}
{{- include "baton.fileVolume" (dict "ctx" .ctx "name" "baton-clients" "src" .src "file" (base (include "baton.clientsPath" .ctx)) "what" .what) }}
{{- end }}

{{- define "baton.keyPairMount" -}}
- name: baton-curve-key
  mountPath: {{ dir (include "baton.keyPairPath" .) }}
  readOnly: true
{{- end }}

{{- define "baton.clientsMount" -}}
- name: baton-clients
  mountPath: {{ dir (include "baton.clientsPath" .) }}
  readOnly: true
{{- end }}

{{/* CurveZMQ on the client link: curve without apiKeys. */}}
{{- define "baton.clientCurve" -}}
{{- if and .Values.security.curve.enabled (not .Values.security.apiKeys.enabled) }}true{{ end }}
{{- end }}

{{/* The broker's public key, for the scheduler and the workers. */}}
{{- define "baton.brokerPublicKey" -}}
{{- required "security.curve.broker.publicKey: the broker's CurveZMQ public key (40 Z85 characters)" .Values.security.curve.broker.publicKey }}
{{- end }}

{{/* The scheduler's security env, volumes and mounts. */}}
{{- define "baton.schedulerSecurityEnv" -}}
{{- $sec := .Values.security }}
{{- if $sec.curve.enabled }}
{{- if include "baton.clientCurve" . }}
# Both links: the client API (CURVE, clients from BATON_CLIENTS_FILE) and the broker link.
- name: BATON_CURVE_SECRET_KEY_FILE
  value: {{ include "baton.keyPairPath" . | quote }}
{{- else }}
# The broker link only: the client API uses API keys.
- name: BATON_BROKER_CURVE_KEY_FILE
  value: {{ include "baton.keyPairPath" . | quote }}
{{- end }}
- name: BATON_BROKER_CURVE_SERVER_KEY
  value: {{ include "baton.brokerPublicKey" . | quote }}
{{- end }}
{{- if or $sec.apiKeys.enabled $sec.curve.enabled }}
- name: BATON_CLIENTS_FILE
  value: {{ include "baton.clientsPath" . | quote }}
{{- end }}
{{- end }}

{{- define "baton.schedulerSecurityVolumes" -}}
{{- $sec := .Values.security }}
{{- if $sec.curve.enabled }}
{{- include "baton.keyPairVolume" (dict "ctx" . "src" (dict "secret" (required "security.curve.scheduler.keyPair.secret: the Secret with the scheduler's key pair" $sec.curve.scheduler.keyPair.secret) "key" $sec.curve.scheduler.keyPair.key) "what" "security.curve.scheduler.keyPair") }}
{{- end }}
{{- if $sec.apiKeys.enabled }}
{{ include "baton.clientsVolume" (dict "ctx" . "src" $sec.apiKeys.clients "what" "security.apiKeys.clients") }}
{{- else if $sec.curve.enabled }}
{{ include "baton.clientsVolume" (dict "ctx" . "src" $sec.curve.scheduler.clients "what" "security.curve.scheduler.clients") }}
{{- end }}
{{- end }}

{{- define "baton.schedulerSecurityMounts" -}}
{{- if .Values.security.curve.enabled }}
{{ include "baton.keyPairMount" . }}
{{- end }}
{{- if or .Values.security.apiKeys.enabled .Values.security.curve.enabled }}
{{ include "baton.clientsMount" . }}
{{- end }}
{{- end }}
