#!/usr/bin/env python3
"""Lists the functions longer than a limit in C++ files: `function_sizes.py LIMIT FILE...`.

A function is a brace block at namespace or class scope whose head has a parameter list; its
length counts from the line of its opening brace to the line of its closing one, so a long
signature does not count. Comments, strings and character literals are blanked first, so
braces in them do not count. Prints "path:line: N lines" per function over LIMIT; exit 1 if any.
This is a reading aid for tools/check-layout.sh, not a C++ parser: lambdas and local blocks
count as part of the function that holds them.
"""
import re
import sys


def blank(source):
    keep_lines = lambda m: "\n" * m.group(0).count("\n")
    source = re.sub(r"//[^\n]*", "", source)
    source = re.sub(r"/\*.*?\*/", keep_lines, source, flags=re.S)
    source = re.sub(r'R"(\w*)\((.*?)\)\1"', lambda m: '""' + keep_lines(m), source, flags=re.S)
    source = re.sub(r'"(\\.|[^"\\\n])*"', '""', source)
    return re.sub(r"'(\\.|[^'\\\n])+'", "''", source)


def long_functions(path, limit):
    text = blank(open(path, encoding="utf-8").read())
    stack = []  # (kind, line) per open brace; kind: scope, function, inner
    line, head_start = 1, 0
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
        elif c == "{":
            head = text[head_start:i]
            if re.search(r"\b(namespace|class|struct|enum|union)\b", head) and "(" not in head:
                kind = "scope"
            elif re.search(r"\bnamespace\b", head):
                kind = "scope"
            elif ")" in head:
                kind = "function"
            else:
                kind = "inner"
            at_scope = all(k == "scope" for k, _ in stack)
            stack.append((kind if at_scope else "inner", line))
            head_start = i + 1
        elif c == "}":
            kind, start = stack.pop() if stack else ("inner", line)
            if kind == "function" and line - start + 1 > limit:
                yield start, line - start + 1
            head_start = i + 1
        elif c == ";":
            head_start = i + 1


def main():
    limit = int(sys.argv[1])
    found = False
    for path in sys.argv[2:]:
        for start, length in long_functions(path, limit):
            print(f"{path}:{start}: {length} lines")
            found = True
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
