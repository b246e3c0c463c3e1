"""Split one iptables-restore line into words, as iptables-restore does.

iptables-restore has its own tokenizer (xtables' ``add_param_to_argv``):
words are separated by blanks; only double quotes group a word (a single
quote is an ordinary character: ``'a b'`` is two words, as iptables-restore
splits it); inside double quotes a backslash makes the next character
literal (``\\"`` is a quote, ``\\\\`` a backslash, ``\\'`` a single quote —
what iptables-save writes), outside them a backslash is an ordinary
character; a closing quote ends the word.  A ``#`` only starts a comment at
the beginning of a line.  ``shlex`` differs on all of these, so this is
written out.
"""
from __future__ import annotations

from dataplane.filter.errors import RulesetError

MAX_LINE = 64 * 1024      # longest line accepted (iptables' own buffer is 1024 * 64)
MAX_WORDS = 4096          # words per rule line


def split_words(text: str, line: int = 0, source: str = "") -> list[str]:
    if len(text) > MAX_LINE:
        raise RulesetError(f"line longer than {MAX_LINE} characters", line=line, source=source)
    if '"' not in text:
        words = text.split()
    else:
        words = _split_quoted(text, line, source)
    if len(words) > MAX_WORDS:
        raise RulesetError(f"more than {MAX_WORDS} words on one line", line=line, source=source)
    return words


def _split_quoted(text: str, line: int, source: str) -> list[str]:
    words: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for c in text:
        if quoted:
            if escaped:
                cur.append(c)
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
                words.append("".join(cur))      # the closing quote ends the word ("" is a word)
                cur = []
            else:
                cur.append(c)
        elif c == '"':
            quoted = True
        elif c in " \t\r\n\v\f":
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(c)
    if quoted:
        raise RulesetError("unterminated quoted string", line=line, source=source, token='"')
    if cur:
        words.append("".join(cur))
    return words
