"""Reference answers from CPython for the differential tests in this directory.

Usage: python pyref.py MODE < cases.json > answers.json, MODE one of:
  ini     cases: [[file_text, ...], ...]  (each case: files read in turn into one parser)
  format  cases: [[fmt, {name: str|int}], ...]
  shlex   cases: [str, ...]               (shlex.split, posix, no comments)
  kv      cases: [str, ...]               (supervisor's dict_of_key_value_pairs)

The parser is built exactly as supervisor 4.3.0's UnhosedConfigParser builds it, and files are
read through open() like supervisord reads them (universal newlines, UTF-8).
"""
import configparser
import json
import os
import shlex
import sys
import tempfile


def make_parser():
    # supervisor.options.UnhosedConfigParser.__init__ on Python 3
    return configparser.RawConfigParser(inline_comment_prefixes=(';', '#'), strict=False)


def ini_case(files, tmp):
    parser = make_parser()
    for i, text in enumerate(files):
        path = os.path.join(tmp, "f%d.conf" % i)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            with open(path, "r", encoding="utf-8") as f:
                parser.read_file(f, path)
        except configparser.MissingSectionHeaderError as e:
            return {"error": "missing_section_header", "file": i, "lines": [e.lineno]}
        except configparser.ParsingError as e:
            return {"error": "parsing", "file": i, "lines": [n for n, _ in e.errors]}
    out = [["DEFAULT", [[k, v] for k, v in parser._defaults.items()]]]
    for name in parser.sections():
        out.append([name, [[k, v] for k, v in parser._sections[name].items()]])
    return {"ok": out}


def format_case(fmt, mapping):
    try:
        return {"ok": fmt % mapping}
    except KeyError as e:
        return {"key": e.args[0]}
    except Exception as e:
        return {"error": str(e)}


def shlex_case(s):
    try:
        return {"ok": shlex.split(s)}
    except ValueError as e:
        return {"error": str(e)}


def dict_of_key_value_pairs(arg):
    # supervisor/datatypes.py (4.3.0), verbatim
    lexer = shlex.shlex(str(arg))
    lexer.wordchars += '/.+-():'
    tokens = list(lexer)
    tokens_len = len(tokens)
    D = {}
    i = 0
    while i < tokens_len:
        k_eq_v = tokens[i:i+3]
        if len(k_eq_v) != 3 or k_eq_v[1] != '=':
            raise ValueError(
                "Unexpected end of key/value pairs in value '%s'" % arg)
        D[k_eq_v[0]] = k_eq_v[2].strip('\'"')
        i += 4
    return D


def kv_case(s):
    try:
        return {"ok": [[k, v] for k, v in dict_of_key_value_pairs(s).items()]}
    except ValueError as e:
        return {"error": str(e)}


def main():
    mode = sys.argv[1]
    cases = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "ini":
            answers = [ini_case(c, tmp) for c in cases]
        elif mode == "format":
            answers = [format_case(f, m) for f, m in cases]
        elif mode == "shlex":
            answers = [shlex_case(c) for c in cases]
        elif mode == "kv":
            answers = [kv_case(c) for c in cases]
        else:
            raise SystemExit("unknown mode %r" % mode)
    json.dump(answers, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
