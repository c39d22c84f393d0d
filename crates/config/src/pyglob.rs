//! Python's `glob.glob(pattern)` (non-recursive, hidden files excluded) and the
//! `fnmatch.translate` rules it matches names with: `*`, `?`, `[...]` with `!` negation and
//! ranges (including how Python drops reversed ranges), a name starting with `.` only
//! matched by a pattern starting with `.`, and a pattern without magic only checked for
//! existence. This is how supervisord expands `[include] files=`.

use crate::host::Host;
use crate::pypath;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(char),
    /// A character set; `None` never matches (an emptied range).
    Class {
        negated: bool,
        items: Option<Vec<(char, char)>>,
    },
}

pub fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Class contents between `[` and `]` (`pat[i..j]`), as `fnmatch.translate` rewrites them.
fn class(pat: &[char], i: usize, j: usize) -> Tok {
    let stuff = &pat[i..j];
    let mut chunks: Vec<Vec<char>> = Vec::new();
    if !stuff.contains(&'-') {
        chunks.push(stuff.to_vec());
    } else {
        let mut i = i;
        let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
        loop {
            let found = (k..j).find(|&x| pat[x] == '-');
            let Some(kk) = found else { break };
            chunks.push(pat[i..kk].to_vec());
            i = kk + 1;
            k = kk + 3;
        }
        let chunk = pat[i..j].to_vec();
        if chunk.is_empty() {
            if let Some(last) = chunks.last_mut() {
                last.push('-');
            }
        } else {
            chunks.push(chunk);
        }
        // Remove empty (reversed) ranges, as Python does.
        let mut k = chunks.len().saturating_sub(1);
        while k > 0 {
            let (a, b) = (chunks[k - 1].last().copied(), chunks[k].first().copied());
            match (a, b) {
                (Some(a), Some(b)) if a > b => {
                    let tail: Vec<char> = chunks[k][1..].to_vec();
                    chunks[k - 1].pop();
                    chunks[k - 1].extend(tail);
                    chunks.remove(k);
                }
                (None, _) | (_, None) => {
                    // Python would fail with an IndexError here; match nothing instead.
                    return Tok::Class {
                        negated: false,
                        items: None,
                    };
                }
                _ => {}
            }
            k -= 1;
        }
    }
    // Flatten into literal characters and range joints.
    enum Item {
        Ch(char),
        Dash,
    }
    let mut seq: Vec<Item> = Vec::new();
    for (n, c) in chunks.iter().enumerate() {
        if n > 0 {
            seq.push(Item::Dash);
        }
        seq.extend(c.iter().map(|&ch| Item::Ch(ch)));
    }
    if seq.is_empty() {
        return Tok::Class {
            negated: false,
            items: None,
        };
    }
    let mut negated = false;
    if matches!(seq.first(), Some(Item::Ch('!'))) {
        if seq.len() == 1 {
            return Tok::Any;
        }
        negated = true;
        seq.remove(0);
    }
    let mut items = Vec::new();
    let mut idx = 0;
    while idx < seq.len() {
        match seq[idx] {
            Item::Ch(a) => {
                if let (Some(Item::Dash), Some(Item::Ch(b))) = (seq.get(idx + 1), seq.get(idx + 2))
                {
                    items.push((a, *b));
                    idx += 3;
                } else {
                    items.push((a, a));
                    idx += 1;
                }
            }
            // A joint with nothing before it (the set began with '!'): a literal '-'.
            Item::Dash => {
                items.push(('-', '-'));
                idx += 1;
            }
        }
    }
    Tok::Class {
        negated,
        items: Some(items),
    }
}

fn translate(pat: &str) -> Vec<Tok> {
    let pat: Vec<char> = pat.chars().collect();
    let n = pat.len();
    let mut res = Vec::new();
    let mut i = 0;
    while i < n {
        let c = pat[i];
        i += 1;
        match c {
            '*' => {
                if res.last() != Some(&Tok::Star) {
                    res.push(Tok::Star);
                }
            }
            '?' => res.push(Tok::Any),
            '[' => {
                let mut j = i;
                if j < n && pat[j] == '!' {
                    j += 1;
                }
                if j < n && pat[j] == ']' {
                    j += 1;
                }
                while j < n && pat[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    res.push(Tok::Lit('['));
                } else {
                    res.push(class(&pat, i, j));
                    i = j + 1;
                }
            }
            c => res.push(Tok::Lit(c)),
        }
    }
    res
}

fn match_toks(toks: &[Tok], name: &[char]) -> bool {
    match toks.first() {
        None => name.is_empty(),
        Some(Tok::Star) => (0..=name.len()).any(|k| match_toks(&toks[1..], &name[k..])),
        Some(t) => {
            let Some(&c) = name.first() else { return false };
            let ok = match t {
                Tok::Any => true,
                Tok::Lit(l) => *l == c,
                Tok::Class { negated, items } => match items {
                    None => false,
                    Some(items) => items.iter().any(|&(a, b)| a <= c && c <= b) != *negated,
                },
                Tok::Star => unreachable!("handled above"),
            };
            ok && match_toks(&toks[1..], &name[1..])
        }
    }
}

/// `fnmatch.fnmatchcase(name, pat)`.
pub fn fnmatch(name: &str, pat: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    match_toks(&translate(pat), &chars)
}

fn glob1(host: &dyn Host, dirname: &str, pattern: &str, dironly: bool) -> Vec<String> {
    let entries = host
        .list_dir(if dirname.is_empty() { "." } else { dirname })
        .unwrap_or_default();
    let hidden_ok = pattern.starts_with('.');
    entries
        .into_iter()
        .filter(|e| !dironly || e.is_dir)
        .map(|e| e.name)
        .filter(|n| hidden_ok || !n.starts_with('.'))
        .filter(|n| fnmatch(n, pattern))
        .collect()
}

fn glob0(host: &dyn Host, dirname: &str, basename: &str) -> Vec<String> {
    if basename.is_empty() {
        if host.is_dir(if dirname.is_empty() { "." } else { dirname }) {
            return vec![String::new()];
        }
    } else if host.lexists(&pypath::join(dirname, basename)) {
        return vec![basename.to_string()];
    }
    Vec::new()
}

fn iglob(host: &dyn Host, pathname: &str, dironly: bool) -> Vec<String> {
    let (dirname, basename) = pypath::split(pathname);
    if !has_magic(pathname) {
        if !basename.is_empty() {
            if host.lexists(pathname) {
                return vec![pathname.to_string()];
            }
        } else if host.is_dir(&dirname) {
            return vec![pathname.to_string()];
        }
        return Vec::new();
    }
    if dirname.is_empty() {
        return glob1(host, "", &basename, dironly);
    }
    let dirs = if dirname != pathname && has_magic(&dirname) {
        iglob(host, &dirname, true)
    } else {
        vec![dirname]
    };
    let mut out = Vec::new();
    for d in dirs {
        let names = if has_magic(&basename) {
            glob1(host, &d, &basename, dironly)
        } else {
            glob0(host, &d, &basename)
        };
        out.extend(names.into_iter().map(|n| pypath::join(&d, &n)));
    }
    out
}

/// `glob.glob(pattern)`.
pub fn glob(host: &dyn Host, pattern: &str) -> Vec<String> {
    iglob(host, pattern, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("a.conf", "*.conf"));
        assert!(!fnmatch("a.conf.bak", "*.conf"));
        assert!(fnmatch("a1", "a[0-9]"));
        assert!(!fnmatch("ax", "a[0-9]"));
        assert!(fnmatch("ax", "a[!0-9]"));
        assert!(fnmatch("a-", "a[a-]"));
        assert!(fnmatch("]", "[]]"));
        assert!(fnmatch("[]", "[]"));
        assert!(!fnmatch("b", "[z-a]"));
        assert!(fnmatch("b", "[!z-a]"));
        assert!(fnmatch("c", "[a--c]"));
        assert!(!fnmatch("b", "[a--c]"));
        assert!(!fnmatch("-", "[!-a]"));
        assert!(fnmatch("b", "[!-a]"));
        assert!(fnmatch("x\ny", "x?y"));
        assert!(fnmatch("[x", "[x"));
    }
}
