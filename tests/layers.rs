//! The crate's layers point one way (see `src/lib.rs`, "Layout"): this test
//! reads the source tree, as `../shared/tools/layers` does, and fails on a
//! module cycle or on a `use` that points up or sideways between layers.
//!
//! A module's uses are the `crate::...` paths in its file, comments and
//! unit tests (`#[cfg(test)]` and what follows, test-only files) left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first. A module may use the modules of the layers
/// below its own; within the two lowest layers, each other too (without a
/// cycle). Every top-level module of `src/` must be named here.
const LAYERS: &[(&str, &[&str])] = &[
    ("bottom", &["limits", "protocol", "sys", "net", "logging", "term", "escape"]),
    ("shared", &["accounts", "admin", "service"]),
    ("session", &["server"]),
    ("programs", &["pool", "balancer", "client", "bench"]),
];

/// Modules that use nothing of ours.
const LEAVES: &[&str] = &["sys", "limits", "logging", "term", "escape"];

type Module = Vec<String>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of `dir`, by module path (`a/b.rs` and `a/b/mod.rs`
/// are `["a", "b"]`; `lib.rs` is `[]`).
fn modules(dir: &Path) -> BTreeMap<Module, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<Module, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().with_extension("");
                let mut m: Module = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
                    m.pop();
                }
                out.insert(m, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut all = BTreeMap::new();
    walk(dir, dir, &mut all);
    // Test-only modules (`#[cfg(test)] mod name;`) may reach anywhere.
    let test_only: Vec<Module> = all
        .iter()
        .flat_map(|(m, text)| {
            let mut found = Vec::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("#[cfg(test)]") {
                rest = &rest[i + "#[cfg(test)]".len()..];
                let decl = rest.trim_start();
                let decl = decl.strip_prefix("pub(crate) ").or_else(|| decl.strip_prefix("pub ")).unwrap_or(decl);
                if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.split_once(';')).map(|(n, _)| n.trim()) {
                    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        found.push([m.clone(), vec![name.to_string()]].concat());
                    }
                }
            }
            found
        })
        .collect();
    for m in test_only {
        all.remove(&m);
    }
    all
}

/// The code of a file that counts: no comment lines, nothing from the
/// first `#[cfg(test)]` on.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn ident(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// The paths named by `s`, which follows a `crate::` or a `::` of a
/// path: `a::b::C`, `a::{b, c::{D, E}}`...
fn paths(prefix: &[String], s: &str, out: &mut Vec<Module>) -> usize {
    let start = s.len();
    let mut s = s;
    let mut path = prefix.to_vec();
    loop {
        if let Some(group) = s.strip_prefix('{') {
            s = group;
            loop {
                s = s.trim_start();
                if let Some(rest) = s.strip_prefix('}') {
                    return start - rest.len();
                }
                if let Some(rest) = s.strip_prefix(',') {
                    s = rest;
                    continue;
                }
                if s.is_empty() {
                    return start;
                }
                let used = paths(&path, s, out);
                s = s[used.max(1)..].trim_start();
                // `name as other`: the alias does not matter.
                if let Some(alias) = s.strip_prefix("as ") {
                    s = ident(alias.trim_start()).1;
                }
            }
        }
        let (name, rest) = ident(s);
        if name.is_empty() {
            out.push(path);
            return start - s.len();
        }
        if name != "self" {
            path.push(name.to_string());
        }
        match rest.strip_prefix("::") {
            Some(more) => s = more,
            None => {
                out.push(path);
                return start - rest.len();
            }
        }
    }
}

/// The longest prefix of `path` that is a module.
fn resolve(path: &[String], mods: &BTreeMap<Module, String>) -> Option<Module> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| mods.contains_key(m))
}

/// File-level edges: module -> the modules it uses (not itself, not its
/// ancestors).
fn edges(mods: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, text) in mods {
        let code = code(text);
        let mut targets = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            paths(&[], &code[i + "crate::".len()..], &mut targets);
        }
        for t in targets {
            if let Some(r) = resolve(&t, mods) {
                if r != *m && !m.starts_with(&r) {
                    out.entry(m.clone()).or_default().insert(r);
                }
            }
        }
    }
    out
}

/// The groups of nodes that reach each other (cycles), each sorted.
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    let reach = |from: &N| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&N> = edges.get(from).into_iter().flatten().collect();
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(edges.get(n).into_iter().flatten());
            }
        }
        seen
    };
    let reaches: BTreeMap<&N, BTreeSet<N>> = edges.keys().map(|n| (n, reach(n))).collect();
    let mut groups: BTreeSet<Vec<N>> = BTreeSet::new();
    for (n, r) in &reaches {
        if r.contains(*n) {
            let group = r.iter().filter(|o| reaches.get(o).is_some_and(|ro| ro.contains(*n))).cloned().collect();
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&top))
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "lib.rs".into()
    } else {
        m.join("/")
    }
}

#[test]
fn the_parser_of_this_test_reads_paths_and_groups() {
    let mut got = Vec::new();
    paths(&[], "server::intake::{Arrival, Intake as I, Via};", &mut got);
    paths(&[], "protocol::{self, address::{canonical, family}, Reply}", &mut got);
    paths(&[], "limits::MAX_PATH)", &mut got);
    let want: Vec<Vec<&str>> = vec![
        vec!["server", "intake", "Arrival"],
        vec!["server", "intake", "Intake"],
        vec!["server", "intake", "Via"],
        vec!["protocol"],
        vec!["protocol", "address", "canonical"],
        vec!["protocol", "address", "family"],
        vec!["protocol", "Reply"],
        vec!["limits", "MAX_PATH"],
    ];
    assert_eq!(got, want.iter().map(|p| p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>());
    let mut g = BTreeMap::new();
    g.insert(1, BTreeSet::from([2]));
    g.insert(2, BTreeSet::from([3]));
    g.insert(3, BTreeSet::from([1]));
    g.insert(4, BTreeSet::from([1]));
    assert_eq!(cycles(&g), vec![vec![1, 2, 3]]);
}

/// The layers of `src/lib.rs`, kept: no cycle between modules or files, no
/// use of a higher layer or of a module beside it in the programs' layer.
#[test]
fn layers_point_one_way_and_no_module_cycle_comes_back() {
    let mods = modules(&src_dir());
    assert!(mods.len() > 40, "only {} modules found under {}", mods.len(), src_dir().display());
    let files = edges(&mods);
    let mut problems = Vec::new();
    for c in cycles(&files) {
        problems.push(format!("file cycle: {}", c.iter().map(show).collect::<Vec<_>>().join(" <-> ")));
    }
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, bs) in &files {
        for b in bs {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                if x != y {
                    top.entry(x.clone()).or_default().insert(y.clone());
                }
            }
        }
    }
    for c in cycles(&top) {
        problems.push(format!("module cycle: {}", c.join(" <-> ")));
    }
    let tops: BTreeSet<&String> = mods.keys().filter_map(|m| m.first()).collect();
    for t in &tops {
        if layer_of(t).is_none() {
            problems.push(format!("module {t} is in no layer: add it to LAYERS here and to lib.rs's Layout"));
        }
    }
    for (a, bs) in &top {
        for b in bs {
            let (Some(la), Some(lb)) = (layer_of(a), layer_of(b)) else { continue };
            if lb > la || (la == lb && la >= 2) {
                problems.push(format!("{a} ({}) uses {b} ({})", LAYERS[la].0, LAYERS[lb].0));
            }
            if LEAVES.contains(&a.as_str()) {
                problems.push(format!("{a} must use nothing of ours, and uses {b}"));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\nmodule -> what it uses:\n{}", problems.join("\n"), {
        top.iter()
            .map(|(a, bs)| format!("  {a} -> {}", bs.iter().cloned().collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    });
}

/// `src/lib.rs`'s Layout names every module with its layer.
#[test]
fn the_layout_names_every_module_with_its_layer() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let layout = lib.split("# Layout").nth(1).expect("lib.rs has a `# Layout` section");
    for (layer, mods) in LAYERS {
        assert!(layout.contains(layer), "the layout does not name the {layer} layer");
        for m in *mods {
            assert!(
                layout.contains(&format!("[`{m}`]")) || layout.contains(&format!("[`{m}`](")),
                "the layout does not name {m}"
            );
        }
    }
}
