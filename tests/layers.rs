//! The house's layers: no module imports one of a higher layer, and no two files import
//! each other (directly or round a circle). The layer order is written down once, in
//! `docs/architecture.md` (the block after "Layers, lowest first"), and read from there.
//!
//! The check reads every `src/` file as text (comments, strings and `#[cfg(test)]` items
//! left out), collects the paths it names through `crate::`, `super::` and `self::`, and
//! resolves each to the deepest module file that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module of `src/` by its path (`okx::client`), with its file.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if m.last().is_some_and(|l| l == "mod") {
                m.pop();
            }
            if m == ["lib"] || m == ["main"] {
                m.clear();
            }
            out.insert(m, p);
        }
    }
    out
}

/// `text` without comments, string and char literals, and `#[cfg(test)]` items.
fn code_of(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_ident(&b, i) {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal ('\n', '\'', '\u{1F600}'): up to the next quote.
            i += 3;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    drop_test_items(&out)
}

fn prev_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Removes each item that follows `#[cfg(test)]` (up to its `;` or its closing brace).
fn drop_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let mut depth = 0i32;
        let mut end = after.len();
        for (k, ch) in after.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn use_paths(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = &tree[..open];
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut part = String::new();
        for ch in inner.chars() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    use_paths(&format!("{prefix}{head}"), &part, out);
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(ch);
        }
        if !part.trim().is_empty() {
            use_paths(&format!("{prefix}{head}"), &part, out);
        }
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(format!("{prefix}{path}"));
    }
}

/// Every `crate::`/`super::`/`self::` path named in `code`.
fn named_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` trees first (they may hold `{ … }` groups).
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        use_paths("", &after[..end], &mut out);
        rest = &after[end..];
    }
    // Then every inline path.
    let chars: Vec<char> = code.chars().collect();
    let text: String = chars.iter().collect();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = text[from..].find(start) {
            let at = from + k;
            from = at + start.len();
            if at > 0 {
                let p = text[..at].chars().last().unwrap();
                if p.is_alphanumeric() || p == '_' || p == ':' {
                    continue;
                }
            }
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(path.trim_end_matches(':').to_string());
        }
    }
    out
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = s[from..].find(word) {
        let at = from + k;
        let before = s[..at].chars().last();
        let after = s[at + word.len()..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if edge(before) && after.is_some_and(char::is_whitespace) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The module `path` (named in `module`) refers to: the deepest existing module file.
fn resolve(module: &Module, path: &str, known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut full, mut rest): (Module, &[&str]) = match *segs.first()? {
        "crate" => (Vec::new(), &segs[1..]),
        "self" => (module.clone(), &segs[1..]),
        "super" => {
            let mut base = module.clone();
            let mut r = &segs[..];
            while r.first() == Some(&"super") {
                base.pop();
                r = &r[1..];
            }
            (base, r)
        }
        _ => return None,
    };
    full.extend(rest.iter().map(|s| (*s).to_string()));
    rest = &[];
    let _ = rest;
    (1..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| known.contains_key(m))
}

/// Which module imports which (a module's own submodules and ancestors left out).
fn imports(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let known = modules(src);
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, file) in &known {
        if m.last().is_some_and(|l| l == "tests") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for path in named_paths(&code) {
            let Some(t) = resolve(m, &path, &known) else {
                continue;
            };
            let inside = |a: &Module, b: &Module| a.len() <= b.len() && b[..a.len()] == a[..];
            if &t == m || inside(&t, m) || inside(m, &t) {
                continue;
            }
            out.entry(m.clone()).or_default().insert(t);
        }
    }
    out
}

/// The layer order from docs/architecture.md: one line per layer, lowest first, module
/// names separated by spaces, in the fenced block after "Layers, lowest first".
fn layers(doc: &str) -> Vec<Vec<String>> {
    let at = doc
        .find("Layers, lowest first")
        .expect("docs/architecture.md names its layers (\"Layers, lowest first\")");
    let block = &doc[at..];
    let open = block.find("```").expect("a fenced block of layers");
    let body = &block[open + 3..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[..body.find("```").expect("the block ends")];
    body.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The imports of `src` that reach up a layer of `doc`, and the modules `doc` does not place.
fn up_imports(src: &Path, doc: &str) -> (BTreeSet<String>, Vec<String>) {
    let layers = layers(doc);
    let level: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let graph = imports(src);
    let mut unplaced = BTreeSet::new();
    let mut up = Vec::new();
    for (from, tos) in &graph {
        let Some(a) = from.first() else { continue };
        for to in tos {
            let Some(b) = to.first() else { continue };
            if a == b {
                continue;
            }
            match (level.get(a.as_str()), level.get(b.as_str())) {
                (Some(x), Some(y)) if x < y => up.push(format!("{} → {}", from.join("::"), to.join("::"))),
                (Some(_), Some(_)) => {}
                (None, _) => {
                    unplaced.insert(a.clone());
                }
                (_, None) => {
                    unplaced.insert(b.clone());
                }
            }
        }
    }
    (unplaced, up)
}

#[test]
fn no_module_imports_a_higher_layer() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let (unplaced, up) = up_imports(&root().join("src"), &doc);
    assert!(
        unplaced.is_empty(),
        "modules not in docs/architecture.md's layers: {unplaced:?}"
    );
    assert!(
        up.is_empty(),
        "{} import(s) reach up a layer (docs/architecture.md, \"Layers\"):\n  {}",
        up.len(),
        up.join("\n  ")
    );
}

/// The circles of imports between the files of `src` (each sorted).
fn circles(src: &Path) -> Vec<Vec<String>> {
    let graph = imports(src);
    // Strongly connected components (Tarjan), iteratively small enough for ~200 files.
    let nodes: Vec<&Module> = graph.keys().collect();
    let mut index: BTreeMap<&Module, usize> = BTreeMap::new();
    let mut low: BTreeMap<&Module, usize> = BTreeMap::new();
    let mut stack: Vec<&Module> = Vec::new();
    let mut on: BTreeSet<&Module> = BTreeSet::new();
    let mut circles: Vec<Vec<String>> = Vec::new();
    fn visit<'a>(
        v: &'a Module,
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: &mut BTreeMap<&'a Module, usize>,
        low: &mut BTreeMap<&'a Module, usize>,
        stack: &mut Vec<&'a Module>,
        on: &mut BTreeSet<&'a Module>,
        circles: &mut Vec<Vec<String>>,
    ) {
        let i = index.len();
        index.insert(v, i);
        low.insert(v, i);
        stack.push(v);
        on.insert(v);
        for w in graph.get(v).into_iter().flatten() {
            if !index.contains_key(w) {
                visit(w, graph, index, low, stack, on, circles);
                let lw = low[w];
                let lv = low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if on.contains(w) {
                let iw = index[w];
                let lv = low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if low[v] == index[v] {
            let mut comp = Vec::new();
            loop {
                let w = stack.pop().unwrap();
                on.remove(w);
                comp.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                circles.push(comp);
            }
        }
    }
    for v in nodes {
        if !index.contains_key(v) {
            visit(v, &graph, &mut index, &mut low, &mut stack, &mut on, &mut circles);
        }
    }
    circles
}

#[test]
fn no_two_files_import_each_other() {
    let circles = circles(&root().join("src"));
    assert!(
        circles.is_empty(),
        "{} circle(s) of imports (move what both need to where both can see it):\n  {}",
        circles.len(),
        circles
            .iter()
            .map(|c| c.join(" ↔ "))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The checks find what they look for: a lower module naming a higher one, and two files
/// naming each other.
#[test]
fn the_checks_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "pub mod high;\npub mod low;\n").unwrap();
    std::fs::write(
        src.join("low.rs"),
        "// crate::nothing in a comment\npub fn f() -> u8 { crate::high::G }\npub const F: u8 = 1;\n",
    )
    .unwrap();
    std::fs::write(src.join("high.rs"), "use crate::low::F;\npub const G: u8 = F;\n").unwrap();
    let doc = "Layers, lowest first:\n\n```\nlow\nhigh\n```\n";
    let (unplaced, up) = up_imports(src, doc);
    assert!(unplaced.is_empty(), "{unplaced:?}");
    assert_eq!(up, ["low → high"]);
    assert_eq!(circles(src), [vec!["high".to_string(), "low".to_string()]]);
}
