//! ao-core's modules import one another without circles larger than two files.
//!
//! The measurement: every `.rs` file under `src/` is one node, read as its module (`lib.rs` is
//! the crate root, `a/mod.rs` is `a`, `a/b.rs` is `a::b`). A file imports the modules that its
//! paths name: `crate::…`, `super::…` and `self::…` paths anywhere (in `use` trees, nested braces
//! included, and in expressions), and paths that start with one of its own child modules (`pub
//! use model::Config` in `config/mod.rs`: a re-export is an import). A path names the longest
//! module it reaches; an item the crate root re-exports (`crate::Error`) names the module it comes
//! from, and an item another module re-exports names that module's file. Comments, string
//! literals, a child module's declaration (`mod x;`) and the path of a visibility (`pub(in
//! crate::a)`) are no imports. The strongly connected components of that graph (Tarjan's
//! algorithm) are the import circles, and the test fails listing every one of more than two
//! files. So a directory's files share what they need through a leaf of their own
//! (`manager/session_manager.rs`, `store/connection.rs`), never through the parent file, which is
//! the module map and the public paths and names its children.
//!
//! It prints the same measure taken module by module too, for what it is worth: a file directly
//! under `src/` or a directory with every file in it (`manager.rs` with `manager/*.rs`) as one
//! node.
//!
//! `AO_IMPORT_GRAPH_SRC=<dir>` measures another source tree (an older ao-core, say) instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The largest import circle allowed, in files.
const LARGEST_CIRCLE: usize = 2;

#[test]
fn ao_core_has_no_import_circle_larger_than_two_files() {
    let src = std::env::var_os("AO_IMPORT_GRAPH_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let files = Graph::read(&src);
    let mut by_file = files.circles();
    by_file.sort_by_key(|c| std::cmp::Reverse(c.len()));
    let sizes: Vec<usize> = by_file.iter().map(Vec::len).collect();
    println!(
        "{} files; file by file, the components of more than one file have sizes {sizes:?}: \
         {by_file:?}",
        files.modules.len()
    );
    let graph = files.top_level();
    let mut by_module = graph.circles();
    by_module.sort_by_key(|c| std::cmp::Reverse(c.len()));
    let sizes: Vec<usize> = by_module.iter().map(Vec::len).collect();
    println!(
        "{} modules; module by module (a directory one node), the components of more than one \
         module have sizes {sizes:?}: {by_module:?}",
        graph.modules.len()
    );
    let too_big: Vec<String> = by_file
        .iter()
        .filter(|c| c.len() > LARGEST_CIRCLE)
        .map(|c| format!("{} files: {}", c.len(), c.join(", ")))
        .collect();
    assert!(
        too_big.is_empty(),
        "ao-core has import circles larger than {LARGEST_CIRCLE} files:\n{}",
        too_big.join("\n")
    );
}

/// The modules of a crate's source tree and what each file imports.
struct Graph {
    /// Each module (`crate` for the root) and the modules it imports.
    modules: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = Vec::new();
        collect(src, &mut files);
        let names: BTreeMap<String, PathBuf> = files
            .iter()
            .map(|f| (module_of(src, f), f.clone()))
            .collect();
        let known: BTreeSet<String> = names.keys().cloned().collect();
        let root_text = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
        let root_exports = root_exports(&tokens(&root_text), &known);
        let modules = names
            .iter()
            .map(|(module, file)| {
                let text = std::fs::read_to_string(file).expect("a source file can be read");
                let imports = imports(module, &tokens(&text), &known, &root_exports)
                    .into_iter()
                    .filter(|m| m != module)
                    .collect();
                (module.clone(), imports)
            })
            .collect();
        Graph { modules }
    }

    /// The graph of the crate's own modules, each file counted as the top-level module it is
    /// part of (`manager::spawn` as `manager`).
    fn top_level(&self) -> Graph {
        let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
        let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, imports) in &self.modules {
            let node = top(module);
            let entry = modules.entry(node.clone()).or_default();
            entry.extend(imports.iter().map(|m| top(m)).filter(|m| *m != node));
        }
        Graph { modules }
    }

    /// The strongly connected components of more than one module (Tarjan).
    fn circles(&self) -> Vec<Vec<String>> {
        let names: Vec<&String> = self.modules.keys().collect();
        let index_of: BTreeMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let edges: Vec<Vec<usize>> = names
            .iter()
            .map(|n| {
                self.modules[*n]
                    .iter()
                    .filter_map(|m| index_of.get(m).copied())
                    .collect()
            })
            .collect();
        let mut tarjan = Tarjan {
            edges: &edges,
            index: vec![None; names.len()],
            low: vec![0; names.len()],
            on_stack: vec![false; names.len()],
            stack: Vec::new(),
            next: 0,
            components: Vec::new(),
        };
        for v in 0..names.len() {
            if tarjan.index[v].is_none() {
                tarjan.visit(v);
            }
        }
        tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut c: Vec<String> = c.into_iter().map(|i| names[i].clone()).collect();
                c.sort();
                c
            })
            .collect()
    }
}

struct Tarjan<'e> {
    edges: &'e [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.edges[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the source directory can be read")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `lib.rs` → `crate`, `a/mod.rs` → `a`, `a/b.rs` → `a::b`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

/// The source as tokens: identifiers, `::`, and single punctuation characters; comments,
/// string and character literals and lifetimes left out.
fn tokens(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && raw_string_at(&chars, i) {
            // r"…" or r#"…"#: ends at a quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some('\\') {
                // The escaped character may itself be a quote: '\''.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            out.push("::".into());
            i += 2;
        } else if c.is_whitespace() || c.is_ascii_digit() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

fn raw_string_at(chars: &[char], i: usize) -> bool {
    // Not the end of an identifier such as `for`.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The paths of a `use` tree or a path expression starting at `tokens[at]`, each a list of
/// segments, and where the tree ends.
fn paths_at(tokens: &[String], at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = at;
    while i < tokens.len() && is_ident(&tokens[i]) {
        prefix.push(tokens[i].clone());
        if tokens.get(i + 1).map(String::as_str) != Some("::") {
            return (vec![prefix], i + 1);
        }
        i += 2;
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                let mut paths = Vec::new();
                i += 1;
                while i < tokens.len() && tokens[i] != "}" {
                    if is_ident(&tokens[i]) {
                        let (inner, end) = paths_at(tokens, i);
                        for p in inner {
                            let mut full = prefix.clone();
                            // `self` in a tree names the prefix itself.
                            full.extend(p.into_iter().filter(|s| s != "self"));
                            paths.push(full);
                        }
                        i = end;
                    } else {
                        i += 1;
                    }
                }
                if paths.is_empty() {
                    paths.push(prefix);
                }
                return (paths, i + 1);
            }
            Some("*") => return (vec![prefix], i + 1),
            _ => {}
        }
    }
    (vec![prefix], i)
}

/// The items the crate root re-exports (`pub use error::{Error, Result}`): item name → the module
/// of this crate it comes from, or `None` for another crate's (`pub use ao_agent::clock`), which
/// is no import of this crate's modules.
fn root_exports(tokens: &[String], known: &BTreeSet<String>) -> BTreeMap<String, Option<String>> {
    let mut exports = BTreeMap::new();
    for (i, t) in tokens.iter().enumerate() {
        if t != "use" {
            continue;
        }
        let (paths, _) = paths_at(tokens, i + 1);
        for path in paths {
            let path: Vec<String> = path
                .into_iter()
                .skip_while(|s| s == "crate" || s == "self")
                .collect();
            let Some((item, modules)) = path.split_last() else {
                continue;
            };
            let module = modules.join("::");
            if known.contains(&module) {
                exports.insert(item.clone(), Some(module));
            } else if modules.first().is_some_and(|m| !known.contains(m)) {
                exports.insert(item.clone(), None);
            }
        }
    }
    exports
}

/// The modules that a file of module `module` names.
fn imports(
    module: &str,
    tokens: &[String],
    known: &BTreeSet<String>,
    root_exports: &BTreeMap<String, Option<String>>,
) -> BTreeSet<String> {
    let segments = |m: &str| -> Vec<String> {
        if m == "crate" {
            Vec::new()
        } else {
            m.split("::").map(String::from).collect()
        }
    };
    let own = segments(module);
    // The module that `super` names from this file (a `mod.rs` stands for its directory).
    let parent = {
        let mut p = own.clone();
        p.pop();
        p
    };
    let mut found = BTreeSet::new();
    // Inline modules (`mod tests { … }`): inside one, `super` is the file's own module.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            "mod"
                if is_ident(tokens.get(i + 1).map(String::as_str).unwrap_or(""))
                    && tokens.get(i + 2).map(String::as_str) == Some("{") =>
            {
                inline.push(depth);
            }
            _ => {}
        }
        // `pub(in crate::a)` is a visibility, not an import.
        if t == "pub"
            && tokens.get(i + 1).map(String::as_str) == Some("(")
            && tokens.get(i + 2).map(String::as_str) == Some("in")
        {
            while i < tokens.len() && tokens[i] != ")" {
                i += 1;
            }
            continue;
        }
        let after_colons = i > 0 && tokens[i - 1] == "::";
        let starts_path =
            !after_colons && is_ident(t) && tokens.get(i + 1).map(String::as_str) == Some("::");
        if !starts_path {
            i += 1;
            continue;
        }
        let base: Option<Vec<String>> = match t {
            "crate" => Some(Vec::new()),
            "super" if inline.is_empty() => Some(parent.clone()),
            "super" | "self" => Some(own.clone()),
            _ if inline.is_empty() => {
                let mut child = own.clone();
                child.push(t.to_string());
                known.contains(&child.join("::")).then(|| own.clone())
            }
            _ => None,
        };
        let Some(base) = base else {
            i += 1;
            continue;
        };
        let skip = usize::from(matches!(t, "crate" | "super" | "self"));
        let (paths, end) = paths_at(tokens, i);
        for path in paths {
            let mut at = base.clone();
            let mut rest = path.iter().skip(skip).peekable();
            // `super::super::…`
            while rest.peek().is_some_and(|s| *s == "super") {
                at.pop();
                rest.next();
            }
            let rest: Vec<&String> = rest.collect();
            let mut taken = 0;
            for seg in &rest {
                let mut next = at.clone();
                next.push((*seg).clone());
                if known.contains(&next.join("::")) {
                    at = next;
                    taken += 1;
                } else {
                    break;
                }
            }
            let target = if at.is_empty() {
                match rest.get(taken).map(|item| root_exports.get(item.as_str())) {
                    Some(Some(from)) => from.clone(),
                    _ => Some("crate".into()),
                }
            } else {
                Some(at.join("::"))
            };
            found.extend(target);
        }
        i = end.max(i + 1);
    }
    found
}
