"""Workload identities: a Kubernetes service account, written as a SPIFFE id."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Identity", "parse_spiffe_id"]

SPIFFE_PREFIX = "spiffe://"

# namespace: a DNS-1123 label; service account: a DNS-1123 subdomain (Kubernetes' rules)
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]{1,255}")


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """Who a workload is: its namespace and service account (validated, so that no value can
    smuggle a ``/`` into the SPIFFE id)."""

    namespace: str
    service_account: str

    def __post_init__(self) -> None:
        if not _LABEL.fullmatch(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a DNS-1123 label")
        if not _SUBDOMAIN.fullmatch(self.service_account):
            raise ValueError(f"service account {self.service_account!r} is not a DNS-1123 subdomain")

    def spiffe_id(self, trust_domain: str = "cluster.local") -> str:
        """``spiffe://<trust domain>/ns/<namespace>/sa/<service account>``."""
        if not _TRUST_DOMAIN.fullmatch(trust_domain):
            raise ValueError(f"trust domain {trust_domain!r} is not valid")
        return f"{SPIFFE_PREFIX}{trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service_account}"


def parse_spiffe_id(uri: str) -> tuple[str, Identity]:
    """``spiffe://td/ns/NS/sa/SA`` -> (trust domain, identity); ValueError otherwise."""
    if not uri.startswith(SPIFFE_PREFIX):
        raise ValueError(f"{uri!r} is not a SPIFFE id")
    parts = uri[len(SPIFFE_PREFIX) :].split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or not parts[0]:
        raise ValueError(f"{uri!r} is not spiffe://<trust domain>/ns/<ns>/sa/<sa>")
    return parts[0], Identity(parts[2], parts[4])
