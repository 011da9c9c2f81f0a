#!/usr/bin/env python3
"""Generates the kubeconform JSON schemas kept in tools/schemas/.

Sources are the pinned Go modules (fetched with `go mod download`, so the Go
module proxy is the only network dependency):
  - Kubernetes: api/openapi-spec/swagger.json of k8s.io/kubernetes
  - CRDs: each CustomResourceDefinition's own openAPIV3Schema

Only the kinds CloudShop uses are written, so the tree stays small. Schemas are
standalone (every $ref inlined) and strict (additionalProperties: false on every
object that lists its properties), which is what `kubeconform -strict` needs:
kubeconform itself only adds duplicate-key checks in strict mode.

Usage: tools/schemas/generate.py            # rewrite the schemas
       tools/schemas/generate.py --check    # fail when they are out of date
"""

import copy
import json
import os
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

KUBERNETES = "k8s.io/kubernetes@v1.35.4"

# (group, version, kind) of the built-in kinds CloudShop's manifests use.
BUILTIN_KINDS = [
    ("", "v1", "ConfigMap"),
    ("", "v1", "Namespace"),
    ("", "v1", "Pod"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("batch", "v1", "Job"),
    ("networking.k8s.io", "v1", "Ingress"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
]

# module -> CRD files inside it -> versions to keep.
CRDS = {
    "github.com/kyverno/kyverno@v1.19.1": {
        "config/crds/policies.kyverno.io/policies.kyverno.io_validatingpolicies.yaml": ["v1"],
        "config/crds/policies.kyverno.io/policies.kyverno.io_imagevalidatingpolicies.yaml": ["v1"],
        "config/crds/policies.kyverno.io/policies.kyverno.io_policyexceptions.yaml": ["v1"],
        "cmd/cli/kubectl-kyverno/config/crds/cli.kyverno.io_tests.yaml": ["v1alpha1"],
    },
    "github.com/cert-manager/cert-manager@v1.21.2": {
        "deploy/crds/cert-manager.io_certificates.yaml": ["v1"],
        "deploy/crds/cert-manager.io_clusterissuers.yaml": ["v1"],
        "deploy/crds/cert-manager.io_issuers.yaml": ["v1"],
    },
    "github.com/prometheus-operator/prometheus-operator@v0.85.0": {
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml": ["v1"],
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml": ["v1"],
    },
    "github.com/argoproj/argo-cd/v3@v3.5.7": {
        "manifests/crds/application-crd.yaml": ["v1alpha1"],
        "manifests/crds/appproject-crd.yaml": ["v1alpha1"],
    },
}


def module_dir(module):
    out = subprocess.run(
        ["go", "mod", "download", "-json", module],
        check=True, capture_output=True, text=True, cwd="/",
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    ).stdout
    info = json.loads(out)
    if "Error" in info:
        sys.exit(f"go mod download {module}: {info['Error']}")
    return info["Dir"]


def strict(schema):
    """additionalProperties: false wherever an object lists its properties."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def int_or_string(schema):
    """Kubernetes' int-or-string extensions as JSON Schema alternatives."""
    if isinstance(schema, dict):
        if schema.get("x-kubernetes-int-or-string") or schema.get("format") == "int-or-string":
            for key in ("type", "format", "x-kubernetes-int-or-string", "anyOf"):
                schema.pop(key, None)
            schema["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        for value in schema.values():
            int_or_string(value)
    elif isinstance(schema, list):
        for value in schema:
            int_or_string(value)
    return schema


def builtin_schemas(root):
    with open(os.path.join(root, "api/openapi-spec/swagger.json")) as f:
        definitions = json.load(f)["definitions"]
    # Quantities are written as numbers or strings in YAML.
    for name, definition in definitions.items():
        if name.endswith(".api.resource.Quantity"):
            definitions[name] = {"oneOf": [{"type": "string"}, {"type": "number"}]}

    def inline(schema, seen):
        if isinstance(schema, dict):
            if "$ref" in schema:
                name = schema["$ref"].split("/")[-1]
                if name in seen:  # recursive types (JSONSchemaProps) stay open
                    return {}
                return inline(copy.deepcopy(definitions[name]), seen | {name})
            return {k: inline(v, seen) for k, v in schema.items()}
        if isinstance(schema, list):
            return [inline(v, seen) for v in schema]
        return schema

    by_gvk = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            by_gvk[(gvk["group"], gvk["version"], gvk["kind"])] = name
    for group, version, kind in BUILTIN_KINDS:
        name = by_gvk[(group, version, kind)]
        schema = inline(copy.deepcopy(definitions[name]), {name})
        schema = strict(int_or_string(schema))
        # apiVersion and kind are exact for this file.
        api_version = f"{group}/{version}" if group else version
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
        schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
        suffix = f"-{group.split('.')[0].lower()}-{version}" if group else f"-{version}"
        yield f"kubernetes/{kind.lower()}{suffix}.json", schema


def crd_schemas(root, files):
    metadata = {"type": "object"}  # checked by the API server, not here
    for path, versions in files.items():
        with open(os.path.join(root, path)) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    if version["name"] not in versions:
                        continue
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    props = schema.setdefault("properties", {})
                    props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
                    props["kind"] = {"type": "string", "enum": [kind]}
                    props["metadata"] = metadata
                    schema = strict(int_or_string(schema))
                    yield f"{group}/{kind.lower()}_{version['name']}.json", schema


def generate():
    files = dict(builtin_schemas(module_dir(KUBERNETES)))
    for module, crd_files in CRDS.items():
        files.update(crd_schemas(module_dir(module), crd_files))
    return {path: json.dumps(schema, indent=1, sort_keys=True) + "\n" for path, schema in files.items()}


def main():
    check = "--check" in sys.argv[1:]
    files = generate()
    stale = []
    for path, text in sorted(files.items()):
        target = os.path.join(HERE, path)
        current = open(target).read() if os.path.exists(target) else None
        if current != text:
            stale.append(path)
            if not check:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "w") as f:
                    f.write(text)
    if check and stale:
        sys.exit("schemas out of date (run tools/schemas/generate.py): " + ", ".join(stale))
    print(f"{len(files)} schemas {'checked' if check else 'written'}"
          + (f", {len(stale)} changed" if stale and not check else ""))


if __name__ == "__main__":
    main()
