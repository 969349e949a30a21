#!/usr/bin/env python3
"""Checks that every C++ block of a Markdown guide appears in the example
program it quotes (indentation aside), so that the guide cannot drift from
code the tests build and run.

Usage: doc_snippets.py GUIDE.md EXAMPLE.cc
"""
import re
import sys


def normalized(lines):
    return [line.strip() for line in lines if line.strip()]


def contains(haystack, needle):
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def main(guide_path, example_path):
    guide = open(guide_path, encoding='utf-8').read()
    example = normalized(open(example_path, encoding='utf-8').read().splitlines())
    blocks = re.findall(r'```cpp\n(.*?)```', guide, flags=re.S)
    missing = [block for block in blocks if not contains(example, normalized(block.splitlines()))]
    for block in missing:
        print(f'{guide_path}: this block is not in {example_path}:\n{block}', file=sys.stderr)
    if not blocks:
        print(f'{guide_path}: no C++ blocks found', file=sys.stderr)
    return 1 if missing or not blocks else 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
