#!/usr/bin/env python3
"""Structure and name checks for the CloudShop Falco rules (falco -V cannot run
here; the e2e workflow runs it).

Checks: the rules text parses from falco/values.yaml customRules; every item is
one of list/macro/rule with its required keys; names are unique; every rule has
a valid priority, desc, output and a `cloudshop` tag; every macro or list a
condition uses is defined in the CloudShop rules or in Falco's stock rules
(falco/stock-names.txt).

Usage: tools/falco-check.py [VALUES_YAML | RULES_YAML]
"""
import os
import re
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "falco")
PRIORITIES = {"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"}
KEYWORDS = {"and", "or", "not"}
COMPARISONS = {"=", "!=", "<", "<=", ">", ">=", "startswith", "endswith", "contains", "icontains",
               "bcontains", "glob", "pmatch", "in", "intersects", "exists", "bstartswith", "regex"}
TOKEN = re.compile(r"""\s*(?:("[^"]*"|'[^']*')|(\()|(\))|(,)|(!=|<=|>=|=|<|>)|([^\s(),=<>!]+))""")


def load_rules(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    if isinstance(doc, dict) and "customRules" in doc:
        items = []
        for name, text in doc["customRules"].items():
            items += yaml.safe_load(text) or []
        return items
    return doc or []


def used_names(condition):
    """Bare words a condition uses as macros (outside value positions) and
    list names inside `in (...)`."""
    macros, lists = set(), set()
    depth_in = []  # stack: True when the parenthesis opened an in-list
    expect_value = False
    pending_in = False
    for m in TOKEN.finditer(condition):
        string, lpar, rpar, comma, op, word = m.groups()
        if lpar:
            depth_in.append(pending_in)
            pending_in = expect_value = False
            continue
        if rpar:
            if depth_in:
                depth_in.pop()
            continue
        if comma or string:
            expect_value = False
            continue
        token = op or word
        if token in COMPARISONS:
            pending_in = token in ("in", "intersects", "pmatch")
            expect_value = not pending_in and token != "exists"
            continue
        if token in KEYWORDS:
            continue
        in_list = bool(depth_in) and depth_in[-1]
        if in_list:
            if "_" in token and "." not in token and not token.startswith("/"):
                lists.add(token)
        elif expect_value:
            expect_value = False
        elif "." not in token and not re.match(r"^[0-9]", token):
            macros.add(token)
    return macros, lists


def check(path):
    errors = []
    stock = {"macro": set(), "list": set()}
    with open(os.path.join(ROOT, "stock-names.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                kind, name = line.split()
                stock[kind].add(name)
    items = load_rules(path)
    defined = {"macro": set(), "list": set(), "rule": set()}
    for item in items:
        kinds = [k for k in ("list", "macro", "rule") if k in item]
        if len(kinds) != 1:
            errors.append(f"item is not exactly one of list/macro/rule: {item}")
            continue
        kind, name = kinds[0], item[kinds[0]]
        if name in defined[kind]:
            errors.append(f"{kind} {name!r} defined twice")
        defined[kind].add(name)
        required = {"list": ["items"], "macro": ["condition"],
                    "rule": ["desc", "condition", "output", "priority", "tags"]}[kind]
        for key in required:
            if not item.get(key):
                errors.append(f"{kind} {name!r} has no {key}")
        if kind == "rule":
            if item.get("priority") not in PRIORITIES:
                errors.append(f"rule {name!r}: priority {item.get('priority')!r} is not a Falco priority")
            if "cloudshop" not in (item.get("tags") or []):
                errors.append(f"rule {name!r} lacks the cloudshop tag")
    macros_ok = defined["macro"] | stock["macro"]
    lists_ok = defined["list"] | stock["list"]
    for item in items:
        cond = item.get("condition")
        if not cond:
            continue
        name = item.get("rule") or item.get("macro")
        macros, lists = used_names(cond)
        for m in sorted(macros - macros_ok):
            errors.append(f"{name!r} uses undefined macro {m!r}")
        for l in sorted(lists - lists_ok):
            errors.append(f"{name!r} uses undefined list {l!r}")
    for item in items:
        if "list" in item:
            for entry in item.get("items") or []:
                if isinstance(entry, str) and "_" in entry and not entry.startswith("/") and entry not in lists_ok:
                    errors.append(f"list {item['list']!r} includes undefined list {entry!r}")
    return errors, defined


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "values.yaml")
    errors, defined = check(path)
    for e in errors:
        print(f"falco: {path}: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"falco: {len(defined['rule'])} rules, {len(defined['macro'])} macros, {len(defined['list'])} lists: structure and names ok")


if __name__ == "__main__":
    main()
