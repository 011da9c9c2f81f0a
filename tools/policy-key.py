#!/usr/bin/env python3
"""Puts a cosign public key in place of COSIGN_PUBLIC_KEY_PLACEHOLDER in the
policy YAML read from stdin (as a block scalar at the placeholder's
indentation) and writes the result to stdout.

Usage: kubectl kustomize kyverno/policies | tools/policy-key.py cosign.pub
"""
import re
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    key = open(sys.argv[1]).read().strip()
    if not key.startswith("-----BEGIN PUBLIC KEY-----"):
        sys.exit(f"{sys.argv[1]} is not a PEM public key")
    text = sys.stdin.read()

    def block(match):
        indent = match.group(1)
        lines = "".join(f"\n{indent}  {line}" for line in key.splitlines())
        return f"{indent}{match.group(2)}: |-{lines}"

    out, count = re.subn(r"(?m)^(\s*)(\w+): COSIGN_PUBLIC_KEY_PLACEHOLDER$", block, text)
    if count == 0:
        sys.exit("no COSIGN_PUBLIC_KEY_PLACEHOLDER in the input")
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
