"""Split one iptables-restore line into words, as iptables-restore does.

iptables-restore has its own tokenizer (xtables' ``add_param_to_argv``):
words are separated by blanks, double or single quotes group a word
(quotes are removed, a backslash escapes a quote inside), and a ``#``
only starts a comment at the beginning of a line.  ``shlex`` differs
(it treats ``#`` mid-line and backslashes elsewhere specially), so this is
written out.
"""
from __future__ import annotations

from dataplane.filter.errors import RulesetError

MAX_LINE = 64 * 1024      # longest line accepted (iptables' own buffer is 1024 * 64)
MAX_WORDS = 4096          # words per rule line


def split_words(text: str, line: int = 0, source: str = "") -> list[str]:
    if '"' not in text and "'" not in text and "\\" not in text:
        if len(text) > MAX_LINE:
            raise RulesetError(f"line longer than {MAX_LINE} characters", line=line, source=source)
        words = text.split()
        if len(words) > MAX_WORDS:
            raise RulesetError(f"more than {MAX_WORDS} words on one line", line=line, source=source)
        return words
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    in_word = False
    i, n = 0, len(text)
    if n > MAX_LINE:
        raise RulesetError(f"line longer than {MAX_LINE} characters", line=line, source=source)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\" and i + 1 < n and text[i + 1] == quote:
                cur.append(quote)
                i += 2
                continue
            if c == quote:
                quote = ""
            else:
                cur.append(c)
        elif c in "\"'":
            quote = c
            in_word = True
        elif c in " \t\r\n":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            if c == "\\" and i + 1 < n and text[i + 1] in "\"'":
                c = text[i + 1]
                i += 1
            cur.append(c)
            in_word = True
        i += 1
    if quote:
        raise RulesetError("unterminated quoted string", line=line, source=source, token=quote)
    if in_word:
        words.append("".join(cur))
    if len(words) > MAX_WORDS:
        raise RulesetError(f"more than {MAX_WORDS} words on one line", line=line, source=source)
    return words
