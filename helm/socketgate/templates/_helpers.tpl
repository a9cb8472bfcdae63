{{/* Names, labels and derived numbers shared by the templates. */}}

{{- define "socketgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "socketgate.fullname" -}}
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

{{- define "socketgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "socketgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "socketgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "socketgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: socketgate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "socketgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "socketgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "socketgate.secretName" -}}
{{- default (include "socketgate.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The Secret the Redis passwords come from: redis.existingSecret, else auth.existingSecret, else the chart's. */}}
{{- define "socketgate.redisSecretName" -}}
{{- default (include "socketgate.secretName" .) .Values.redis.existingSecret -}}
{{- end -}}

{{/* Where the Redis CA (and client certificate) Secret is mounted. */}}
{{- define "socketgate.redisTlsDir" -}}/etc/socketgate/redis-tls{{- end -}}

{{/* Checksum of what the chart's Secret is made of (not of its rendering: a generated JWT secret
differs on every `helm template`, and must not roll the pods each time). */}}
{{- define "socketgate.secretInputs" -}}
{{- $r := .Values.redis -}}
{{- list .Values.auth.jwt.mode .Values.auth.jwt.secret .Values.auth.jwt.publicKey .Values.auth.jwt.jwks .Values.auth.apiKeys $r.mode $r.url $r.password $r.sentinelPassword | toJson | sha256sum -}}
{{- end -}}

{{/* A gateway setting's value as the text of its environment variable: booleans 1 / 0, lists
comma-separated, whole numbers without an exponent (YAML numbers arrive as float64 and 604800000
must not become 6.048e+08). Empty for null, "" and []: the caller then renders nothing and the
gateway's own default applies. 0 and false are values, not "unset". */}}
{{- define "socketgate.envText" -}}
{{- $v := . -}}
{{- if kindIs "bool" $v -}}{{ ternary "1" "0" $v }}
{{- else if kindIs "slice" $v -}}{{ join "," $v }}
{{- else if kindIs "string" $v -}}{{ $v }}
{{- else if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) -}}
{{- if eq (float64 $v) (float64 (int64 $v)) }}{{ int64 $v }}{{ else }}{{ toString $v }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* Where secret files (PEM key, JWKS) are mounted. */}}
{{- define "socketgate.secretDir" -}}/etc/socketgate/secret{{- end -}}

{{/* The drain budget: the kubelet must not SIGKILL before the gateway has drained and flushed. */}}
{{- define "socketgate.terminationGracePeriodSeconds" -}}
{{- $d := .Values.drain -}}
{{- /* The gateway waits PRESENCE_GRACE_MS after the last close before it exits: part of the drain. */ -}}
{{- $drainMs := add (int64 $d.delayMs) (int64 $d.windowMs) (int64 .Values.gateway.presenceGraceMs) -}}
{{- /* An explicit DRAIN_TIMEOUT_MS (validate: above that sum) is the gateway's own deadline: cover it. */ -}}
{{- if and (not (kindIs "invalid" $d.timeoutMs)) (gt (int64 $d.timeoutMs) 0) -}}
{{- $drainMs = max $drainMs (int64 $d.timeoutMs) -}}
{{- end -}}
{{- $drainSeconds := div (add $drainMs 999) 1000 -}}
{{- add (int64 $d.preStopSleepSeconds) $drainSeconds (int64 $d.flushMarginSeconds) -}}
{{- end -}}

{{/* Which autoscaler runs: keda, hpa or nothing. */}}
{{- define "socketgate.autoscaler" -}}
{{- if .Values.autoscaling.keda.enabled -}}keda
{{- else if .Values.autoscaling.enabled -}}hpa
{{- end -}}
{{- end -}}

{{/* Connections per pod the autoscaler aims for. */}}
{{- define "socketgate.connectionsTarget" -}}
{{- mulf .Values.gateway.maxConnections .Values.autoscaling.connections.targetUtilization | floor | int64 -}}
{{- end -}}

{{/* PromQL matchers for this release's series (alerts, KEDA query). */}}
{{- define "socketgate.promSelector" -}}
{{- default (printf "job=%q, namespace=%q" (include "socketgate.fullname" .) .Release.Namespace) .Values.alerts.selector -}}
{{- end -}}

{{/* Refuse value combinations that render fine but break in production. */}}
{{- define "socketgate.validate" -}}
{{- $v := .Values -}}
{{- if not (has $v.redis.mode (list "none" "standalone" "sentinel" "cluster")) -}}
{{- fail (printf "redis.mode must be none, standalone, sentinel or cluster, not %q" $v.redis.mode) -}}
{{- end -}}
{{- if and (eq $v.redis.mode "none") (or (gt (int $v.replicaCount) 1) (include "socketgate.autoscaler" .)) -}}
{{- fail "more than one pod (replicaCount > 1 or autoscaling) needs Redis for fan-out: set redis.mode and its settings" -}}
{{- end -}}
{{- if and (eq $v.redis.mode "standalone") (not $v.redis.url) (not $v.auth.existingSecret) -}}
{{- fail "redis.mode=standalone needs redis.url (or key redis-url in auth.existingSecret)" -}}
{{- end -}}
{{- if and (eq $v.redis.mode "sentinel") (not $v.redis.sentinels) -}}
{{- fail "redis.mode=sentinel needs redis.sentinels (host:port list)" -}}
{{- end -}}
{{- if and (eq $v.redis.mode "cluster") (not $v.redis.clusterNodes) -}}
{{- fail "redis.mode=cluster needs redis.clusterNodes (host:port list)" -}}
{{- end -}}
{{- if and $v.metrics.serviceMonitor.enabled $v.metrics.podMonitor.enabled -}}
{{- fail "enable metrics.serviceMonitor or metrics.podMonitor, not both: every series would be scraped twice" -}}
{{- end -}}
{{- if and $v.redis.tls.existingSecret (not $v.redis.tls.enabled) -}}
{{- fail "redis.tls.existingSecret is set but redis.tls.enabled is false: enable TLS (a CA without TLS would be ignored)" -}}
{{- end -}}
{{- if ne (empty $v.redis.tls.certKey) (empty $v.redis.tls.keyKey) -}}
{{- fail "redis.tls.certKey and redis.tls.keyKey: set both (mutual TLS) or neither" -}}
{{- end -}}
{{- if and $v.redis.tls.certKey (not $v.redis.tls.existingSecret) -}}
{{- fail "redis.tls.certKey / keyKey need redis.tls.existingSecret (the Secret holding them)" -}}
{{- end -}}
{{- if and (eq $v.redis.mode "none") (or $v.redis.password $v.redis.username $v.redis.tls.enabled) -}}
{{- fail "redis.username / password / tls need redis.mode (standalone, sentinel or cluster)" -}}
{{- end -}}
{{- if and (eq $v.redis.mode "none") (not (kindIs "invalid" $v.redis.ackReplicas)) -}}
{{- fail "redis.ackReplicas needs redis.mode (standalone, sentinel or cluster): embedded mode has no replicas" -}}
{{- end -}}
{{- $d := $v.drain -}}
{{- if and (not (kindIs "invalid" $d.timeoutMs)) (gt (int64 $d.timeoutMs) 0) (le (int64 $d.timeoutMs) (add (int64 $d.delayMs) (int64 $d.windowMs) (int64 $v.gateway.presenceGraceMs))) -}}
{{- fail (printf "drain.timeoutMs (%d) must exceed drain.delayMs + drain.windowMs + gateway.presenceGraceMs (%d), or the gateway cuts its own drain short; leave it null for the gateway's default" (int64 $d.timeoutMs) (add (int64 $d.delayMs) (int64 $d.windowMs) (int64 $v.gateway.presenceGraceMs))) -}}
{{- end -}}
{{- /* Settings a production chart never sets, whatever the route. */ -}}
{{- $excluded := list "NODE_ENV" "DEMO" "SOCKETGATE_TEST_FAULTS" -}}
{{- $names := keys $v.gateway.extraConfig -}}
{{- range $v.gateway.extraEnv }}{{ $names = append $names .name }}{{ end -}}
{{- range $name := $names -}}
{{- if has $name $excluded -}}
{{- fail (printf "%s is deliberately not settable through the chart (the image runs NODE_ENV=production; DEMO and SOCKETGATE_TEST_FAULTS are for development and the test suites)" $name) -}}
{{- end -}}
{{- end -}}
{{- if and $v.redis.sentinelPassword (ne $v.redis.mode "sentinel") -}}
{{- fail "redis.sentinelPassword only applies with redis.mode=sentinel" -}}
{{- end -}}
{{- if and (eq (include "socketgate.autoscaler" .) "keda") (gt (float64 $v.autoscaling.keda.hottestPodUtilization) 0.0) (ge (float64 $v.autoscaling.keda.hottestPodUtilization) (float64 $v.alerts.thresholds.connections)) -}}
{{- fail "autoscaling.keda.hottestPodUtilization must stay below alerts.thresholds.connections: the autoscaler has to act before the alert pages" -}}
{{- end -}}
{{- if and (eq $v.auth.jwt.mode "secret") (not $v.auth.jwt.secret) (not $v.auth.existingSecret) (not $v.auth.jwt.generate) -}}
{{- fail "auth.jwt.generate=false: set auth.jwt.secret or auth.existingSecret (key jwt-secret), so every render (helm template, Argo CD, Flux) gives the same secret" -}}
{{- end -}}
{{- if and (include "socketgate.autoscaler" .) $v.autoscaling.connections.enabled (ge (float64 $v.autoscaling.connections.targetUtilization) (float64 $v.alerts.thresholds.connections)) -}}
{{- fail "autoscaling.connections.targetUtilization must stay below alerts.thresholds.connections: the autoscaler has to act before the alert pages" -}}
{{- end -}}
{{- if not $v.auth.existingSecret -}}
{{- if and (eq $v.auth.jwt.mode "publicKey") (not $v.auth.jwt.publicKey) -}}
{{- fail "auth.jwt.mode=publicKey needs auth.jwt.publicKey (PEM) or auth.existingSecret" -}}
{{- end -}}
{{- if and (eq $v.auth.jwt.mode "jwks") (not $v.auth.jwt.jwks) -}}
{{- fail "auth.jwt.mode=jwks needs auth.jwt.jwks (JSON) or auth.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* for, labels and the start of annotations (with the runbook link) of one alert rule. */}}
{{- define "socketgate.alertMeta" -}}
{{- $v := .root.Values.alerts -}}
for: {{ index $v.for .key }}
labels:
  severity: {{ index $v.severity .key }}
  {{- with $v.additionalLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  runbook_url: {{ printf "%s#%s" $v.runbookUrl (lower .alert) }}
{{- end -}}
