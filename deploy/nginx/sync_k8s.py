"""``python deploy/nginx/sync_k8s.py``: copy deploy/nginx/nginx.conf and upstreams.k8s.conf into
the nginx ConfigMap of deploy/k8s/40-nginx.yaml, verbatim.

The two files are what an operator edits and what Compose mounts; Kubernetes needs them inside a
manifest. tests/integration/test_deploy_manifests.py fails while the copies differ; this script
rewrites the ConfigMap (the first document of the file) and leaves the rest as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

NGINX = Path(__file__).resolve().parent
MANIFEST = NGINX.parent / "k8s" / "40-nginx.yaml"
HEADER = """\
# nginx: the only workload reachable from outside the cluster (99-network-policies.yaml).
# Its ConfigMap carries deploy/nginx/nginx.conf and deploy/nginx/upstreams.k8s.conf verbatim
# (python deploy/nginx/sync_k8s.py writes them; tests/integration/test_deploy_manifests.py fails
# when a copy differs). Two Services: `nginx`, the public one (a cloud load balancer, port 443,
# keeping the client's address for the web chat's per-address limit), and `nginx-internal`, the
# private server the gateway forwards to and the console calls Rasa through.
apiVersion: v1
kind: ConfigMap
metadata:
  name: nginx
  namespace: cobranza
  labels:
    app.kubernetes.io/name: nginx
    app.kubernetes.io/part-of: cobranza
data:
"""


def block(key: str, text: str) -> str:
    """``key: |`` and the text indented under it (a literal block keeps every character)."""
    lines = [("    " + line) if line else "" for line in text.rstrip("\n").split("\n")]
    return f"  {key}: |\n" + "\n".join(lines) + "\n"


def render() -> str:
    rest = MANIFEST.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    config = (NGINX / "nginx.conf").read_text(encoding="utf-8")
    upstreams = (NGINX / "upstreams.k8s.conf").read_text(encoding="utf-8")
    return (
        HEADER + block("nginx.conf", config) + block("upstreams.conf", upstreams) + "---\n" + rest
    )


def main() -> int:
    MANIFEST.write_text(render(), encoding="utf-8")
    print(f"wrote {MANIFEST.name}'s ConfigMap")
    return 0


if __name__ == "__main__":
    sys.exit(main())
