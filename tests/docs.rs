//! The documentation holds together: README.md stays a page a newcomer reads (the two
//! commands in its first screen, at most 250 lines), and every relative link of README.md,
//! `docs/` and `schemas/README.md` names a file that exists and, with `#anchor`, a heading
//! of that file.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The markdown pages of the project.
fn pages() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md"), root().join("schemas/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// The text of a page outside its fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every link target `[text](target)` of a page.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

fn broken_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let dir = page.parent().unwrap();
    let mut broken = Vec::new();
    for target in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
        let path = if file.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(file)
        };
        if !path.exists() {
            broken.push(format!("{target}: no file {}", path.display()));
            continue;
        }
        if !anchor.is_empty() {
            let target_text = std::fs::read_to_string(&path).unwrap_or_default();
            if !anchors(&target_text).iter().any(|a| a == anchor) {
                broken.push(format!("{target}: no heading #{anchor}"));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        checked += links(&text).len();
        for b in broken_links(&page) {
            broken.push(format!("{}: {b}", page.strip_prefix(root()).unwrap().display()));
        }
    }
    assert!(
        checked >= 30,
        "only {checked} links found: is the link parser broken?"
    );
    assert!(broken.is_empty(), "broken links:\n  {}", broken.join("\n  "));
}

#[test]
fn the_link_check_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(dir.path().join("other.md"), "# Other\n\n## A section\n").unwrap();
    std::fs::write(
        &page,
        "[ok](other.md#a-section) [gone](missing.md) [no anchor](other.md#nope)\n\
         ```\n[in code](ignored.md)\n```\n",
    )
    .unwrap();
    let broken = broken_links(&page);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].starts_with("missing.md"), "{broken:?}");
    assert!(broken[1].contains("#nope"), "{broken:?}");
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug(" How OKX's multi-bill events are booked"),
        "how-okxs-multi-bill-events-are-booked"
    );
    assert_eq!(slug("`tax-summary.csv`"), "tax-summarycsv");
    assert_eq!(slug("Where to add …"), "where-to-add-");
}

#[test]
fn readme_is_short_and_starts_with_the_two_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md has {lines} lines; move detail to docs/");
    let first_screen: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    for command in ["cargo run --release -- demo", "cargo test"] {
        assert!(
            first_screen.contains(command),
            "`{command}` is not in README's first 40 lines"
        );
    }
    // Every page of docs/ is reachable from the README.
    for page in pages().iter().filter(|p| p.starts_with(root().join("docs"))) {
        let name = page.file_name().unwrap().to_string_lossy();
        assert!(
            readme.contains(&format!("(docs/{name})")),
            "README does not link docs/{name}"
        );
    }
}

/// Every `src/…` path the pages name in backticks exists, so the docs follow a move.
#[test]
fn every_named_source_path_exists() {
    let mut missing = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for part in text.split('`').skip(1).step_by(2) {
            if part.starts_with("src/") && !part.contains([' ', '<']) && !root().join(part).exists() {
                missing.push(format!(
                    "{}: {part}",
                    page.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n  {}",
        missing.join("\n  ")
    );
}
