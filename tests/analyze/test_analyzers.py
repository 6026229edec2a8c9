"""Each analyzer on small inputs: the YAML of a case (on top of a small mesh: reviews v1/v2,
ratings v1, an ingress gateway) -> exactly the messages istioctl analyze prints for it."""

from __future__ import annotations

import pytest

from lateen.analyze import analyze, analyze_documents
from lateen.api import load_yaml

BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: default}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec: {containers: [{name: reviews, image: reviews}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: default}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec: {containers: [{name: reviews, image: reviews}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-v1-abc, namespace: default, labels: {app: ratings, version: v1}}
spec: {containers: [{name: ratings, image: ratings}]}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {istio: ingressgateway}
spec:
  selector: {istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021}
  - {name: http2, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  template:
    metadata: {labels: {istio: ingressgateway}}
    spec: {containers: [{name: istio-proxy, image: auto}]}
"""

VS_REVIEWS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: %s}
"""

DR_REVIEWS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["%s"]
"""


def _vs(name: str, body: str, namespace: str = "default") -> str:
    return (
        f"\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{body}"
    )


CASES: list[tuple[str, str, list[str]]] = [
    ("clean", VS_REVIEWS % "reviews", []),
    (
        "vs-host-not-found",
        VS_REVIEWS % "reviews2",
        ['Error [IST0101] (VirtualService default/reviews) Referenced host not found: "reviews2"'],
    ),
    ("vs-host-fqdn", VS_REVIEWS % "ratings.default.svc.cluster.local", []),
    (
        "vs-host-other-namespace-short-name",
        _vs("r", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: ratings}\n", "other"),
        ['Error [IST0101] (VirtualService other/r) Referenced host not found: "ratings"'],
    ),
    (
        "vs-host-service-exported-elsewhere",
        VS_REVIEWS.replace("reviews]", "ratings2]") % "ratings2"
        + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ratings2\n"
        "  annotations: {networking.istio.io/exportTo: other}\nspec: {ports: [{name: http, port: 80}]}\n",
        ['Error [IST0101] (VirtualService default/reviews) Referenced host not found: "ratings2"'],
    ),
    (
        "vs-serviceentry-host-and-port",
        _vs(
            "ext",
            "  hosts: [httpbin.example.com]\n  http:\n  - match: [{uri: {prefix: /a}}]\n    route:\n"
            "    - destination: {host: httpbin.example.com, port: {number: 80}}\n"
            "  - route:\n    - destination: {host: httpbin.example.com, port: {number: 8080}}\n",
        )
        + "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: httpbin}\n"
        "spec:\n  hosts: [httpbin.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n"
        "  resolution: DNS\n",
        [
            "Error [IST0101] (VirtualService default/ext) Referenced host:port not found: "
            '"httpbin.example.com:8080"'
        ],
    ),
    (
        "vs-wildcard-serviceentry",
        _vs("ext", "  hosts: [a.example.com]\n  http:\n  - route:\n    - destination: {host: a.example.com}\n")
        + "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: wild}\n"
        "spec:\n  hosts: ['*.example.com']\n  ports: [{number: 80, name: http, protocol: HTTP}]\n",
        [],
    ),
    (
        "vs-port-selector-required",
        VS_REVIEWS.replace("reviews]", "multi]") % "multi"
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: multi}\n"
        "spec: {ports: [{name: http, port: 80}, {name: http-alt, port: 8080}]}\n",
        [
            'Error [IST0112] (VirtualService default/reviews) This VirtualService routes to a service "multi" '
            "that exposes multiple ports [80 8080]. Specifying a port in the destination is required "
            "to disambiguate."
        ],
    ),
    (
        "vs-mirror-host-not-found",
        _vs(
            "reviews",
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
            "    mirror: {host: shadow}\n",
        ),
        ['Error [IST0101] (VirtualService default/reviews) Referenced mirror host not found: "shadow"'],
    ),
    (
        "vs-subset-not-in-any-destination-rule",
        _vs("reviews", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v9}\n")
        + "---" + DR_REVIEWS,
        [
            "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in destinationrule "
            'not found: "reviews+v9"'
        ],
    ),
    (
        "vs-subset-destination-rule-with-fqdn-host",
        _vs(
            "reviews",
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n",
        )
        + "---" + DR_REVIEWS.replace("host: reviews", "host: reviews.default.svc.cluster.local"),
        [],
    ),
    (
        "vs-subset-destination-rule-in-other-namespace",
        _vs("reviews", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n")
        + "---" + DR_REVIEWS.replace("{name: reviews}", "{name: reviews, namespace: other}"),
        [
            "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in destinationrule "
            'not found: "reviews+v1"',
            "Warning [IST0174] (DestinationRule other/reviews) The host reviews defined in the "
            "DestinationRule does not match any services in the mesh.",
        ],
    ),
    (
        "vs-gateway-not-found",
        _vs("web", "  hosts: ['*']\n  gateways: [missing]\n  http:\n  - route:\n    - destination: {host: reviews}\n"),
        [
            'Error [IST0101] (VirtualService default/web) Referenced gateway not found: "missing"',
            "Warning [IST0132] (VirtualService default/web) one or more host [*] defined in "
            "VirtualService default/web not found in Gateway default/missing.",
        ],
    ),
    (
        "vs-host-not-on-gateway",
        _vs(
            "web",
            "  hosts: [b.example.com]\n  gateways: [gw]\n  http:\n  - route:\n    - destination: {host: reviews}\n",
        )
        + "---" + GATEWAY % "a.example.com",
        [
            "Warning [IST0132] (VirtualService default/web) one or more host [b.example.com] defined in "
            "VirtualService default/web not found in Gateway default/gw."
        ],
    ),
    (
        "vs-gateway-in-other-namespace-with-namespaced-hosts",
        _vs(
            "web",
            "  hosts: [a.example.com]\n  gateways: [istio-system/gw, mesh]\n  http:\n"
            "  - route:\n    - destination: {host: reviews}\n",
        )
        + "---" + (GATEWAY % "default/*.example.com").replace("{name: gw}", "{name: gw, namespace: istio-system}"),
        [],
    ),
    (
        "vs-gateway-hosts-for-another-namespace",
        _vs(
            "web",
            "  hosts: [a.example.com]\n  gateways: [istio-system/gw]\n  http:\n"
            "  - route:\n    - destination: {host: reviews}\n",
        )
        + "---" + (GATEWAY % "./*").replace("{name: gw}", "{name: gw, namespace: istio-system}"),
        [
            "Warning [IST0132] (VirtualService default/web) one or more host [a.example.com] defined in "
            "VirtualService default/web not found in Gateway istio-system/gw."
        ],
    ),
    (
        "ingress-route-without-subset-bypasses-mesh-subsets",
        _vs("web", "  hosts: ['*']\n  gateways: [gw]\n  http:\n  - route:\n    - destination: {host: reviews}\n")
        + "---" + GATEWAY % "*"
        + "---" + _vs("reviews", "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n")
        + "---" + DR_REVIEWS,
        [
            "Warning [IST0140] (VirtualService default/web) Subset in virtual service default/reviews has "
            "no effect on ingress gateway default/web requests"
        ],
    ),
    (
        "mesh-virtual-services-share-a-host",
        VS_REVIEWS % "reviews" + "---" + (VS_REVIEWS % "reviews").replace("{name: reviews}", "{name: reviews2}"),
        [
            "Error [IST0109] (VirtualService default/reviews) The VirtualServices default/reviews,default/reviews2 "
            "associated with mesh gateway define the same host */reviews.default.svc.cluster.local which can "
            "lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a "
            "single resource.",
            "Error [IST0109] (VirtualService default/reviews2) The VirtualServices default/reviews,default/reviews2 "
            "associated with mesh gateway define the same host */reviews.default.svc.cluster.local which can "
            "lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a "
            "single resource.",
        ],
    ),
    (
        "mesh-virtual-services-exported-to-different-namespaces",
        VS_REVIEWS.replace("hosts: [reviews]", "hosts: [reviews]\n  exportTo: [.]") % "reviews"
        + "---"
        + (VS_REVIEWS.replace("hosts: [reviews]", "hosts: [reviews]\n  exportTo: [other]") % "reviews").replace(
            "{name: reviews}", "{name: reviews2}"
        ),
        [],
    ),
    (
        "gateway-and-mesh-virtual-services-may-share-a-host",
        VS_REVIEWS % "reviews"
        + "---" + _vs("edge", "  hosts: [reviews]\n  gateways: [gw]\n  http:\n  - route:\n    - destination: {host: reviews}\n")
        + "---" + GATEWAY % "*",
        [],
    ),
    (
        "rule-after-a-catch-all",
        _vs(
            "reviews",
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
            "  - match: [{uri: {prefix: /a}}, {uri: {prefix: /b}}]\n    route:\n    - destination: {host: reviews}\n",
        ),
        [
            "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used "
            "(route without matches defined before)."
        ],
    ),
    (
        "two-catch-alls",
        _vs(
            "reviews",
            "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
            "  - name: fallback\n    route:\n    - destination: {host: reviews}\n",
        ),
        [
            'Warning [IST0130] (VirtualService default/reviews) VirtualService rule "fallback" not used '
            "(only the last rule can have no matches)."
        ],
    ),
    (
        "duplicate-matches",
        _vs(
            "reviews",
            "  hosts: [reviews]\n  http:\n"
            "  - match: [{uri: {exact: /a}}, {headers: {end-user: {exact: jason}}}]\n"
            "    route:\n    - destination: {host: reviews}\n"
            "  - match: [{name: again, uri: {exact: /a}}]\n    route:\n    - destination: {host: reviews}\n"
            "  - match: [{headers: {end-user: {exact: jason}}}, {uri: {exact: /c}}]\n"
            "    route:\n    - destination: {host: reviews}\n",
        ),
        [
            "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used "
            "(all matches used by prior rules).",
            'Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match "again" is not used '
            "(duplicate/overlapping match in rule #0).",
            "Info [IST0131] (VirtualService default/reviews) VirtualService rule #2 match #0 is not used "
            "(duplicate/overlapping match in rule #0).",
        ],
    ),
    (
        "prefix-covered-by-an-earlier-prefix",
        _vs(
            "reviews",
            "  hosts: [reviews]\n  http:\n"
            "  - match: [{uri: {prefix: /api}}]\n    route:\n    - destination: {host: reviews}\n"
            "  - match: [{uri: {prefix: /api/v1}}, {uri: {prefix: /api/v2}, method: {exact: POST}}]\n"
            "    route:\n    - destination: {host: reviews}\n",
        ),
        [
            "Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match #0 of prefix /api/v1 "
            "is not used (duplicate/overlapping match in rule #0 of prefix /api on #0)."
        ],
    ),
    (
        "tcp-duplicate-match",
        _vs(
            "db",
            "  hosts: [ratings]\n  tcp:\n  - match: [{port: 9080}]\n    route:\n    - destination: {host: ratings}\n"
            "  - match: [{port: 9080}]\n    route:\n    - destination: {host: ratings}\n",
        ),
        [
            "Warning [IST0130] (VirtualService default/db) VirtualService rule #1 not used "
            "(all matches used by prior rules).",
            "Info [IST0131] (VirtualService default/db) VirtualService rule #1 match #0 is not used "
            "(duplicate/overlapping match in rule #0).",
        ],
    ),
    (
        "gateway-selector-matches-no-pod",
        (GATEWAY % "*").replace("istio: ingressgateway", "istio: egressgateway"),
        ['Error [IST0101] (Gateway default/gw) Referenced selector not found: "istio=egressgateway"'],
    ),
    (
        "gateway-port-not-a-target-port-of-its-service",
        (GATEWAY % "*").replace("number: 8080", "number: 9443"),
        [
            "Warning [IST0162] (Gateway default/gw) The gateway is listening on a target port (port 9443) "
            "that is not defined in the Service associated with its workload instances (Pod selector "
            "istio=ingressgateway). If you need to access the gateway port through the gateway Service, "
            "it will not be available."
        ],
    ),
    ("gateway-port-is-a-target-port", GATEWAY % "*", []),
    (
        "conflicting-gateways",
        GATEWAY % "*.example.com" + "---" + (GATEWAY % "a.example.com").replace("{name: gw}", "{name: gw2}"),
        [
            "Error [IST0145] (Gateway default/gw) Conflict with gateways default/gw2 (workload selector "
            "istio=ingressgateway, port 8080, hosts *.example.com).",
            "Error [IST0145] (Gateway default/gw2) Conflict with gateways default/gw (workload selector "
            "istio=ingressgateway, port 8080, hosts a.example.com).",
        ],
    ),
    (
        "gateways-with-different-hosts-do-not-conflict",
        GATEWAY % "a.example.com" + "---" + (GATEWAY % "b.example.com").replace("{name: gw}", "{name: gw2}"),
        [],
    ),
    (
        "subset-selects-no-pod",
        DR_REVIEWS + "  - {name: v3, labels: {version: v3}}\n",
        [
            "Error [IST0173] (DestinationRule default/reviews) The Subset v3 defined in the DestinationRule "
            "does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."
        ],
    ),
    (
        "subset-matched-by-a-running-pod",
        DR_REVIEWS.replace("reviews", "ratings").replace("  - {name: v2, labels: {version: v2}}\n", ""),
        [],
    ),
    (
        "destination-rule-host-unknown",
        DR_REVIEWS.replace("host: reviews", "host: nope"),
        [
            "Warning [IST0174] (DestinationRule default/reviews) The host nope defined in the DestinationRule "
            "does not match any services in the mesh."
        ],
    ),
    (
        "tls-origination-without-ca",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: tls}\nspec:\n"
        "  host: ratings\n  trafficPolicy:\n    tls: {mode: SIMPLE}\n"
        "    portLevelSettings:\n    - port: {number: 9080}\n      tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k}\n",
        [
            "Warning [IST0128] (DestinationRule default/tls) DestinationRule default/tls in namespace default has "
            "TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: ratings",
            "Warning [IST0129] (DestinationRule default/tls) DestinationRule default/tls in namespace default has "
            "TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: ratings "
            "at port number:9080",
        ],
    ),
    (
        "namespace-not-injected",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: canary, labels: {istio.io/rev: canary}}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n",
        [
            "Info [IST0102] (Namespace plain) The namespace is not enabled for Istio injection. Run 'kubectl "
            "label namespace plain istio-injection=enabled' to enable it, or 'kubectl label namespace plain "
            "istio-injection=disabled' to explicitly mark it as not needing injection."
        ],
    ),
    (
        "port-names",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n"
        "  - {name: web, port: 80, targetPort: 8080}\n  - {name: http-alt, port: 81}\n"
        "  - {name: other, port: 82, appProtocol: http}\n  - {name: dns, port: 53}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: bare}\nspec: {ports: [{port: 83}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {type: ExternalName, externalName: a.example.com, "
        "ports: [{name: tcp, port: 443}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: sys, namespace: kube-system}\nspec: {ports: [{name: x, port: 1}]}\n",
        [
            "Warning [IST0150] (Service default/ext) Port name for ExternalName service is invalid. Proxy may "
            "prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded "
            "correctly",
            "Info [IST0118] (Service default/bare) Port name  (port: 83, targetPort: 83) doesn't follow the "
            "naming convention of Istio port.",
            "Info [IST0118] (Service default/web) Port name web (port: 80, targetPort: 8080) doesn't follow the "
            "naming convention of Istio port.",
        ],
    ),
    (
        "sidecar-selectors",
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: a}\n"
        "spec: {egress: [{hosts: [./*]}], workloadSelector: {labels: {app: reviews}}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: b}\n"
        "spec: {egress: [{hosts: [./*]}], workloadSelector: {labels: {version: v1}}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: c}\n"
        "spec: {egress: [{hosts: [./*]}], workloadSelector: {labels: {app: nope}}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: d}\nspec: {egress: [{hosts: [./*]}]}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: e}\nspec: {egress: [{hosts: [./*]}]}\n",
        [
            'Error [IST0101] (Sidecar default/c) Referenced selector not found: "app=nope"',
            'Error [IST0110] (Sidecar default/a) The Sidecars [a b] in namespace "default" select the same '
            'workload pod "reviews-v1", which can lead to undefined behavior.',
            'Error [IST0110] (Sidecar default/b) The Sidecars [a b] in namespace "default" select the same '
            'workload pod "reviews-v1", which can lead to undefined behavior.',
            'Error [IST0111] (Sidecar default/d) The Sidecars [d e] in namespace "default" have no workload '
            "selector, which can lead to undefined behavior.",
            'Error [IST0111] (Sidecar default/e) The Sidecars [d e] in namespace "default" have no workload '
            "selector, which can lead to undefined behavior.",
        ],
    ),
]


def run_case(extra: str) -> list[str]:
    result = analyze_documents([{"source": "", "text": BASE + "---\n" + extra}])
    assert not result.parse_errors
    return [str(m) for m in result.messages]


@pytest.mark.parametrize(("extra", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_analyzer(extra: str, expected: list[str]) -> None:
    assert run_case(extra) == expected


SCHEMA_CASES = [
    (
        "invalid-object-is-ist0106",
        _vs("bad", "  hosts: [reviews]\n  http:\n  - timeout: 3 seconds\n    route:\n    - destination: {host: reviews}\n"),
        [
            "Error [IST0106] (VirtualService default/bad) Schema validation error: spec.http[0].timeout: "
            "invalid duration '3 seconds'"
        ],
    ),
    (
        "warning-is-ist0133",
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\n"
        "spec: {workloadSelector: {labels: {}}}\n",
        [],  # filled from the validator's own warning text below
    ),
]


def test_schema_error_is_ist0106() -> None:
    name, text, expected = SCHEMA_CASES[0]
    assert run_case(text) == expected, name


def test_schema_warning_is_ist0133() -> None:
    _, text, _ = SCHEMA_CASES[1]
    warnings = load_yaml(text).warnings
    assert warnings, "the case needs a validation warning"
    got = [m for m in run_case(text) if "[IST0133]" in m]
    assert got == [
        f"Warning [IST0133] (Sidecar default/s) Schema validation warning: {w.path}: {w.message}" for w in warnings
    ]


def test_rule_warnings_of_validation_are_not_repeated_as_schema_warnings() -> None:
    text = _vs(
        "reviews",
        "  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n"
        "  - route:\n    - destination: {host: reviews}\n",
    )
    assert any("virtualService rule" in w.message for w in load_yaml(text).warnings)
    got = run_case(text)
    assert [m.split("]")[0] for m in got] == ["Warning [IST0130"]


def test_deployment_pods_stand_in_only_when_no_pod_runs() -> None:
    """A Deployment whose pods run is represented by them (their labels), not by its template."""
    objs = load_yaml(
        BASE
        + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: reviews-v1-x, labels: {app: reviews, version: v1, extra: x}}\n"
        "spec: {containers: [{name: reviews, image: r}]}\n"
    ).objects
    from lateen.analyze import Context

    names = {w.name: w.synthetic for w in Context(objs).workloads if w.namespace == "default"}
    assert names == {"ratings-v1-abc": False, "reviews-v1-x": False, "reviews-v2": True}


def test_analyze_is_deterministic_and_sorted() -> None:
    objs = load_yaml(BASE + "---\n" + VS_REVIEWS % "nope" + "---\n" + (GATEWAY % "*").replace("8080", "1")).objects
    a = analyze(objs).messages
    b = analyze(list(reversed(objs))).messages
    assert a == b
    assert [m.type.level for m in a] == sorted((m.type.level for m in a), reverse=True)
