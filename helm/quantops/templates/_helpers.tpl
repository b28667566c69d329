{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "quantops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release-chart, or the release name when it already contains the chart name;
truncated to 63 characters because some Kubernetes name fields are limited to that.
*/}}
{{- define "quantops.fullname" -}}
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

{{/*
chart label value: name-version.
*/}}
{{- define "quantops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of the operator's objects (the operator Deployment, its ServiceAccount, RBAC, policy).
*/}}
{{- define "quantops.labels" -}}
{{ include "quantops.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Labels on every object of the release, without a component (callers add theirs).
*/}}
{{- define "quantops.commonLabels" -}}
helm.sh/chart: {{ include "quantops.chart" . }}
app.kubernetes.io/name: {{ include "quantops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: quantops
{{- end }}

{{/*
Selector labels of the operator pods (immutable in a Deployment: never add to these).
*/}}
{{- define "quantops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "quantops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Labels on the CRDs: no instance/selector labels, a CRD outlives (and is shared by) releases.
*/}}
{{- define "quantops.crd-labels" -}}
helm.sh/chart: {{ include "quantops.chart" . }}
app.kubernetes.io/name: {{ include "quantops.name" . }}
app.kubernetes.io/part-of: quantops
app.kubernetes.io/component: crds
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The operator's ServiceAccount name.
*/}}
{{- define "quantops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "quantops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {repository, tag, digest}: repository@digest, else repository:tag, the tag
defaulting to the chart's appVersion. Call as (include "quantops.image" (list .Values.image .)).
*/}}
{{- define "quantops.image" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/*
ClusterRole/ClusterRoleBinding name: cluster-scoped, so it carries the namespace.
*/}}
{{- define "quantops.clusterRoleName" -}}
{{- printf "%s-%s" (include "quantops.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of the pods the operator creates for Agents (resources/names.py + deployments.py).
*/}}
{{- define "quantops.agentPodSelector" -}}
matchLabels:
  app.kubernetes.io/managed-by: quantops-operator
matchExpressions:
  - {key: quantops.dev/agent, operator: Exists}
{{- end }}

{{/*
Egress every quantops pod needs: DNS and the API server. Called with .Values.networkPolicy.
*/}}
{{- define "quantops.apiServerCIDRs" -}}
{{- /* networkPolicy.apiServer.cidrs, else the kubernetes Service's endpoints read at install, else
(offline rendering) the private ranges: the API ports are never open to any destination, so a
public venue is reachable only through venueCIDRs. */ -}}
{{- $cidrs := list -}}
{{- range .Values.networkPolicy.apiServer.cidrs }}{{ $cidrs = append $cidrs . }}{{ end -}}
{{- if not $cidrs -}}
  {{- $ep := lookup "v1" "Endpoints" "default" "kubernetes" -}}
  {{- range (dig "subsets" list $ep) }}{{ range (dig "addresses" list .) -}}
    {{- $cidrs = append $cidrs (printf "%s/%s" .ip (ternary "128" "32" (contains ":" .ip))) -}}
  {{- end }}{{ end -}}
{{- end -}}
{{- if not $cidrs -}}
  {{- $cidrs = list "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" "100.64.0.0/10" -}}
{{- end -}}
{{- toJson $cidrs -}}
{{- end }}

{{- define "quantops.egressBase" -}}
# DNS
- ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
# the Kubernetes API server
- ports:
    {{- range .Values.networkPolicy.apiServer.ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
  to:
    {{- range (include "quantops.apiServerCIDRs" . | fromJsonArray) }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
{{- end }}

{{/*
The Secrets the samples' venue-sim accounts name (venue.apiKeys[].secretRef), one per line: the
demo Secrets samples-secrets.yaml makes and admission-policy.yaml allows when samples.enabled.
*/}}
{{- define "quantops.sampleSecretNames" -}}
{{- range $doc := regexSplit "(?m)^---\\s*$" (.Files.Get "samples/platform.yaml") -1 }}
{{- $obj := fromYaml $doc }}
{{- if and (eq (toString $obj.kind) "Agent") (eq (toString (($obj.spec).role)) "venue-sim") }}
{{- range $account := (((($obj.spec).config).venue).apiKeys) }}
{{ $account.secretRef }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
