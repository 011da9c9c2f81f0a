#!/usr/bin/env python3
"""Wraps monitoring/rules.yml (plain Prometheus rule groups, which promtool
checks and unit-tests) into monitoring/prometheusrule.yaml for the Prometheus
Operator, so the cluster runs exactly the tested rules.

Usage: tools/prometheusrule.py [--check]
"""
import os
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitoring")


def render():
    with open(os.path.join(ROOT, "rules.yml")) as f:
        groups = yaml.safe_load(f)["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "cloudshop",
            "namespace": "cloudshop-prod",
            "labels": {"app.kubernetes.io/part-of": "cloudshop", "release": "kube-prometheus-stack"},
        },
        "spec": {"groups": groups},
    }
    return "# Generated from rules.yml by tools/prometheusrule.py. Do not edit.\n" + yaml.safe_dump(
        rule, sort_keys=False, width=200
    )


def main():
    target = os.path.join(ROOT, "prometheusrule.yaml")
    text = render()
    if "--check" in sys.argv[1:]:
        current = open(target).read() if os.path.exists(target) else ""
        if current != text:
            sys.exit("monitoring/prometheusrule.yaml is stale: run tools/prometheusrule.py")
        return
    with open(target, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
