"""The samples analyze as Istio would analyze them: Bookinfo as ``lateen up`` starts it is clean;
each task file of ``samples/bookinfo/networking`` on top of it gives exactly the messages in
``tests/testdata/analyze/samples-bookinfo.golden.yaml``; and small broken variants of the task
files report each common mistake."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from lateen.analyze import analyze_documents, select
from lateen.platform.local import builtin_objects, read_documents
from lateen.testing.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
NET = SAMPLES / "bookinfo" / "networking"
GOLDEN = ROOT / "tests" / "testdata" / "analyze" / "samples-bookinfo.golden.yaml"


def docs(*paths: Path) -> list[dict[str, str]]:
    return [{"source": os.path.relpath(d["source"], ROOT), "text": d["text"]} for d in read_documents(paths)]


def messages(documents: list[dict[str, str]], namespace: str | None = "default") -> list[str]:
    result = analyze_documents(documents, builtin_objects("127.0.0.1", 8080))
    assert not result.parse_errors
    return [str(m) for m in select(result.messages, namespace=namespace)]


@pytest.mark.parametrize(
    "sample",
    ["bookinfo", "httpbin", "curl", "bookinfo/platform", "httpbin/httpbin.yaml"],
)
def test_sample_is_clean(sample: str) -> None:
    assert messages(docs(SAMPLES / sample), namespace=None) == []


def test_bookinfo_task_files() -> None:
    """The messages each task file adds when applied on top of Bookinfo (and, for the
    VirtualServices, the subsets of destination-rule-all.yaml, as the tasks apply them first)."""
    out: dict[str, list[str]] = {}
    for f in sorted(NET.glob("*.yaml")):
        base = docs(SAMPLES / "bookinfo")
        if f.name.startswith("virtual-service"):
            base += docs(NET / "destination-rule-all.yaml")
        before = messages(base)
        out[f.name] = [m for m in messages([*base, *docs(f)]) if m not in before]
    assert_golden(GOLDEN, out)


def _replace(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return edit


def _append_copy(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text + "\n---\n" + text.replace(old, new, 1)

    return edit


BROKEN = [
    (
        "host-typo",
        "virtual-service-reviews-v3.yaml",
        _replace("host: reviews\n", "host: reveiws\n"),
        'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "reveiws"',
    ),
    (
        "subset-typo",
        "virtual-service-reviews-v3.yaml",
        _replace("subset: v3", "subset: v4"),
        'Error [IST0101] (VirtualService default/reviews) Referenced host+subset in destinationrule not found: "reviews+v4"',
    ),
    (
        "gateway-name-typo",
        "bookinfo-gateway.yaml",
        _replace("- bookinfo-gateway", "- bookinfo-gw"),
        'Error [IST0101] (VirtualService default/bookinfo) Referenced gateway not found: "bookinfo-gw"',
    ),
    (
        "gateway-port-not-on-the-ingress-service",
        "bookinfo-gateway.yaml",
        _replace("number: 8080", "number: 8081"),
        "Warning [IST0162] (Gateway default/bookinfo-gateway) The gateway is listening on a target port "
        "(port 8081) that is not defined in the Service associated with its workload instances (Pod "
        "selector istio=ingressgateway). If you need to access the gateway port through the gateway "
        "Service, it will not be available.",
    ),
    (
        "gateway-selector-typo",
        "bookinfo-gateway.yaml",
        _replace("istio: ingressgateway", "istio: ingress"),
        'Error [IST0101] (Gateway default/bookinfo-gateway) Referenced selector not found: "istio=ingress"',
    ),
    (
        "two-gateways-for-the-same-host",
        "bookinfo-gateway.yaml",
        _append_copy("name: bookinfo-gateway", "name: bookinfo-gateway-2"),
        "Error [IST0145] (Gateway default/bookinfo-gateway) Conflict with gateways default/bookinfo-gateway-2 "
        "(workload selector istio=ingressgateway, port 8080, hosts *).",
    ),
    (
        "two-virtual-services-for-reviews",
        "virtual-service-reviews-v3.yaml",
        _append_copy("name: reviews", "name: reviews-copy"),
        "Error [IST0109] (VirtualService default/reviews) The VirtualServices default/reviews,default/reviews-copy "
        "associated with mesh gateway define the same host */reviews.default.svc.cluster.local which can lead "
        "to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
    ),
    (
        "jason-rule-after-the-catch-all",
        "virtual-service-reviews-jason-v2-v3.yaml",
        lambda t: t.replace(
            "  - match:\n    - headers:\n        end-user:\n          exact: jason\n    route:\n"
            "    - destination:\n        host: reviews\n        subset: v2\n",
            "",
        )
        + "  - match:\n    - headers:\n        end-user:\n          exact: jason\n    route:\n"
        "    - destination:\n        host: reviews\n        subset: v2\n",
        "Warning [IST0130] (VirtualService default/reviews) VirtualService rule #1 not used (route without "
        "matches defined before).",
    ),
    (
        "jason-match-repeated",
        "virtual-service-reviews-jason-v2-v3.yaml",
        _replace("  - route:\n", "  - match:\n    - headers:\n        end-user:\n          exact: jason\n    route:\n"),
        "Info [IST0131] (VirtualService default/reviews) VirtualService rule #1 match #0 is not used "
        "(duplicate/overlapping match in rule #0).",
    ),
    (
        "invalid-timeout",
        "virtual-service-reviews-v3.yaml",
        _replace("  - route:\n", "  - timeout: 3 seconds\n    route:\n"),
        "Error [IST0106] (VirtualService default/reviews) Schema validation error: spec.http[0].timeout: "
        "invalid duration '3 seconds'",
    ),
]


@pytest.mark.parametrize(("file", "edit", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_variant(file: str, edit: Callable[[str], str], expected: str) -> None:
    base = docs(SAMPLES / "bookinfo", NET / "destination-rule-all.yaml")
    clean = messages([*base, {"source": "", "text": (NET / file).read_text()}])
    broken = messages([*base, {"source": "", "text": edit((NET / file).read_text())}])
    assert expected not in clean
    assert expected in broken, "\n".join(broken)
