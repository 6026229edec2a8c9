"""What ``istioctl install`` would have put in the cluster, for the local platform: the
``default`` namespace labelled ``istio-injection=enabled`` (the getting-started step
``kubectl label namespace default istio-injection=enabled``), the ``istio-system`` namespace, the mesh config (access log to stdout, as Istio's demo
profile), and the ingress gateway (Deployment + Service ``istio-ingressgateway``, labels
``istio: ingressgateway``) whose ports 8080 and 8443 are published on the host
(``--ingress-port``, ``--ingress-tls-port``).
A manifest of the same kind and name replaces the built-in object."""

from __future__ import annotations

import dataclasses
import json

from lateen.api import ConfigObject, load_yaml

__all__ = ["BUILTIN_SOURCE", "INGRESS_GATEWAY_PORT", "INGRESS_GATEWAY_TLS_PORT", "builtin_objects"]

BUILTIN_SOURCE = "lateen:builtin"
INGRESS_GATEWAY_PORT = 8080
INGRESS_GATEWAY_TLS_PORT = 8443

_TEMPLATE = """
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: {istio-injection: enabled}
---
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: istio-ingressgateway-service-account, namespace: istio-system}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  type: LoadBalancer
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021, targetPort: 15021, protocol: TCP}
  - {name: http2, port: 80, targetPort: 8080, protocol: TCP}
  - {name: https, port: 443, targetPort: 8443, protocol: TCP}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  replicas: 1
  selector:
    matchLabels: {app: istio-ingressgateway, istio: ingressgateway}
  template:
    metadata:
      labels:
        app: istio-ingressgateway
        istio: ingressgateway
        sidecar.istio.io/inject: "true"
      annotations:
        inject.istio.io/templates: gateway
        proxy.istio.io/config: PROXY_CONFIG
    spec:
      serviceAccountName: istio-ingressgateway-service-account
      containers:
      - name: istio-proxy
        image: auto
"""


def builtin_objects(
    ingress_address: str, ingress_port: int, ingress_tls_port: int = INGRESS_GATEWAY_TLS_PORT
) -> list[ConfigObject]:
    bindings = json.dumps(
        {
            str(INGRESS_GATEWAY_PORT): f"{ingress_address}:{ingress_port}",
            str(INGRESS_GATEWAY_TLS_PORT): f"{ingress_address}:{ingress_tls_port}",
        }
    )
    proxy_config = json.dumps({"proxyMetadata": {"ISTIO_META_LATEEN_PORT_BINDINGS": bindings}})
    text = _TEMPLATE.replace("PROXY_CONFIG", json.dumps(proxy_config))
    result = load_yaml(text, BUILTIN_SOURCE)
    if result.errors:  # pragma: no cover - a bug in the template above
        raise AssertionError(result.errors)
    return [dataclasses.replace(o, source=BUILTIN_SOURCE) for o in result.objects]
