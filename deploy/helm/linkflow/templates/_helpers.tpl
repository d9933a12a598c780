{{- define "linkflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "linkflow.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "linkflow.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "linkflow.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The environment every LinkFlow process reads (docs/configuration.md). */}}
{{- define "linkflow.env" -}}
- name: LINKFLOW_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required" .Values.kafka.bootstrap | quote }}
- name: LINKFLOW_DATABASE_URL
{{- if .Values.postgres.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.urlKey }}
{{- else }}
  value: {{ required "postgres.url or postgres.existingSecret is required" .Values.postgres.url | quote }}
{{- end }}
- name: LINKFLOW_HOME
  value: /var/lib/linkflow
{{- if .Values.credentials.appKeySecret }}
- name: LINKFLOW_APP_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.credentials.appKeySecret }}
      key: app-key
{{- end }}
{{- with .Values.kafka.securityProtocol }}
- name: LINKFLOW_KAFKA_SECURITY_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kafka.sasl.mechanism }}
- name: LINKFLOW_KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kafka.sasl.username }}
- name: LINKFLOW_KAFKA_SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.kafka.sasl.existingSecret }}
- name: LINKFLOW_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.existingSecret }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: LINKFLOW_KAFKA_SSL_CA_LOCATION
  value: /etc/linkflow/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end }}
{{- if .Values.kafka.extraConfig }}
- name: LINKFLOW_KAFKA_CONFIG_FILE
  value: /etc/linkflow/kafka/client.properties
{{- end }}
{{- end -}}

{{- define "linkflow.volumeMounts" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/linkflow/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.extraConfig }}
- name: kafka-config
  mountPath: /etc/linkflow/kafka
  readOnly: true
{{- end }}
{{- if .Values.postgres.tls.caSecret }}
- name: postgres-ca
  mountPath: /etc/linkflow/postgres
  readOnly: true
{{- end }}
{{- end -}}

{{- define "linkflow.volumes" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
{{- end }}
{{- if .Values.kafka.extraConfig }}
- name: kafka-config
  configMap:
    name: {{ include "linkflow.fullname" . }}-kafka
{{- end }}
{{- if .Values.postgres.tls.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ .Values.postgres.tls.caSecret }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by every LinkFlow pod. */}}
{{- define "linkflow.podSettings" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}
