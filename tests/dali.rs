//! DaLI 0.6.11 as an offline oracle for `dali-in.csv`, `dali-out.csv`, `dali-intra.csv` and
//! `dali.ini` (tax-formats.md §9).
//!
//! Puts the reviewed demo CSVs (`tests/expected/dali-*.csv`, which `tests/it/report.rs`
//! proves equal to what `export` writes for the simulator) next to the `dali.ini` that the
//! real [`ExportWriter`] writes, runs `scripts/dali-check.sh check` (HOME in a temp dir, no
//! `-s`, no network) and reads the result. DaLI prints no counts of its own and exits 0 even
//! after a fatal exception, so the verdict comes from its text and from the workbook it
//! writes: every CSV row must come out as one row of the matching table on its asset's sheet
//! (none dropped, none merged), and the generated RP2 config must list exactly our assets,
//! exchange and holder.
//!
//! RP2 itself cannot run offline on the result (the spot prices stay `__unknown` without
//! `-s`); see the comment in `scripts/dali-check.sh`.
//!
//! Needs the venv from `scripts/dali-check.sh install` (or `DALI_BIN`). Without it the test is
//! skipped with a visible message, except under `CI`, where it fails.

use okx_export::export::{ExportOptions, ExportWriter, Format};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const CSVS: [(&str, &str); 3] = [
    ("IN", "dali-in.csv"),
    ("OUT", "dali-out.csv"),
    ("INTRA", "dali-intra.csv"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The dali_us executable: `DALI_BIN`, else `${DALI_VENV:-target/dali-venv}/bin/dali_us`.
fn dali_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("DALI_BIN") {
        return PathBuf::from(bin);
    }
    let venv = std::env::var_os("DALI_VENV").map_or_else(|| PathBuf::from("target/dali-venv"), PathBuf::from);
    repo().join(venv).join("bin/dali_us")
}

/// `true` when DaLI is installed. Otherwise fails under CI, or prints a skip notice.
fn dali_available() -> bool {
    let bin = dali_bin();
    if bin.is_file() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "dali_us not found at {}: `.ci/run` must install it first (`scripts/dali-check.sh install`)",
            bin.display()
        );
    }
    visible("SKIPPED: DaLI not installed, run scripts/dali-check.sh install");
    false
}

/// Prints to the real stderr: libtest captures `eprintln!` of passing tests, not this.
fn visible(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A directory holding the `dali.ini` our [`ExportWriter`] writes, plus `csvs` (file name →
/// content) in place of the (empty) CSVs it wrote.
fn dali_dir(csvs: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let w = ExportWriter::create(dir.path(), &[Format::Dali], ExportOptions::default()).unwrap();
    let report = w.finish().unwrap();
    let written: BTreeSet<String> = report
        .paths()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut expected: BTreeSet<String> = CSVS.iter().map(|(_, f)| f.to_string()).collect();
    expected.insert("dali.ini".into());
    assert_eq!(written, expected, "files of Format::Dali");
    for (name, content) in csvs {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

/// Runs `scripts/dali-check.sh check DIR --out OUT`; returns (success, stdout and stderr
/// interleaved as printed).
fn run_dali(dir: &Path, out: &Path) -> (bool, String) {
    let script = repo().join("scripts/dali-check.sh");
    let out = Command::new("bash")
        .args(["-c", "exec \"$@\" 2>&1", "bash"])
        .arg(&script)
        .arg("check")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .env("DALI_BIN", dali_bin())
        .output()
        .expect("run scripts/dali-check.sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `ods BTC: IN=171 OUT=114 INTRA=32` lines → {(table, asset): rows}, zero counts left out,
/// and the `ods total:` line as {table: rows}.
type Counts = BTreeMap<(String, String), u64>;
fn ods_counts(output: &str) -> (Counts, BTreeMap<String, u64>) {
    let mut per_sheet = Counts::new();
    let mut total = BTreeMap::new();
    for line in output.lines() {
        let Some((name, counts)) = line.strip_prefix("ods ").and_then(|l| l.split_once(": ")) else {
            continue;
        };
        for pair in counts.split_whitespace() {
            let (table, n) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("bad count `{pair}`"));
            let n: u64 = n.parse().unwrap_or_else(|e| panic!("bad count `{pair}`: {e}"));
            if name == "total" {
                total.insert(table.to_string(), n);
            } else if n > 0 {
                per_sheet.insert((table.to_string(), name.to_string()), n);
            }
        }
    }
    (per_sheet, total)
}

/// Rows per (table, asset) of our CSVs (the asset is column 3 in all three files).
fn csv_counts(csvs: &[(&str, String)]) -> Counts {
    let mut counts = Counts::new();
    for (name, content) in csvs {
        let table = CSVS.iter().find(|(_, f)| f == name).unwrap().0;
        for rec in csv::Reader::from_reader(content.as_bytes()).records() {
            let rec = rec.unwrap();
            *counts.entry((table.to_string(), rec[2].to_string())).or_default() += 1;
        }
    }
    counts
}

/// `key = a, b, c` of the generated RP2 config, as a set.
fn ini_list(ini: &str, key: &str) -> BTreeSet<String> {
    let value = ini
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then_some(v)
        })
        .unwrap_or_else(|| panic!("no `{key}` in the generated ini:\n{ini}"));
    value.split(',').map(|s| s.trim().to_string()).collect()
}

fn non_empty(path: &Path) -> String {
    let len = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("DaLI output {}: {e}", path.display()))
        .len();
    assert!(len > 0, "DaLI output {} is empty", path.display());
    path.display().to_string()
}

#[test]
fn dali_accepts_the_demo_export() {
    if !dali_available() {
        return;
    }
    let csvs: Vec<(&str, String)> = CSVS
        .iter()
        .map(|(_, f)| {
            let path = repo().join("tests/expected").join(f);
            (*f, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    let dir = dali_dir(&csvs);
    let out = dir.path().join("rp2");
    let (ok, output) = run_dali(dir.path(), &out);
    assert!(ok, "dali-check.sh failed:\n{output}");
    for line in [
        "INFO: Initialized input plugin 'dali.plugin.input.csv.manual'",
        "INFO: Reading crypto data using plugin 'dali.plugin.input.csv.manual'",
        "INFO: Resolving transactions",
        "INFO: Done",
    ] {
        assert!(
            output.lines().any(|l| l == line),
            "missing `{line}` in:\n{output}"
        );
    }
    assert!(!output.contains("Traceback"), "DaLI crashed:\n{output}");
    assert!(
        !output
            .lines()
            .any(|l| l.starts_with("ERROR") || l.starts_with("WARNING")),
        "DaLI complained:\n{output}"
    );

    non_empty(&out.join("okx_crypto_data.ods"));
    let ini = std::fs::read_to_string(non_empty(&out.join("okx_crypto_data.ini"))).unwrap();

    // Every row of ours is one row of DaLI's workbook: none dropped, none merged.
    let expected = csv_counts(&csvs);
    let (got, total) = ods_counts(&output);
    assert_eq!(
        got, expected,
        "rows per (table, asset sheet), DaLI vs our CSVs:\n{output}"
    );
    for (table, file) in CSVS {
        let rows: u64 = expected
            .iter()
            .filter(|((t, _), _)| t == table)
            .map(|(_, n)| n)
            .sum();
        assert!(rows > 0, "{file} has no rows");
        assert_eq!(
            total.get(table),
            Some(&rows),
            "{table} rows in the workbook:\n{output}"
        );
    }

    // The RP2 config DaLI derived lists exactly our assets, exchange and holder.
    let assets: BTreeSet<String> = expected.keys().map(|(_, a)| a.clone()).collect();
    assert!(assets.contains("BTC") && assets.contains("USDT"), "{assets:?}");
    assert_eq!(ini_list(&ini, "assets"), assets, "{ini}");
    assert_eq!(
        ini_list(&ini, "exchanges"),
        BTreeSet::from(["OKX".to_string()]),
        "{ini}"
    );
    assert_eq!(
        ini_list(&ini, "holders"),
        BTreeSet::from(["user".to_string()]),
        "{ini}"
    );
}

/// The harness itself must notice a file DaLI rejects (DaLI still exits 0).
#[test]
fn dali_check_reports_bad_rows() {
    if !dali_available() {
        return;
    }
    let header = |file: &str| {
        let path = repo().join("tests/expected").join(file);
        let text = std::fs::read_to_string(path).unwrap();
        format!("{}\n", text.lines().next().unwrap())
    };
    let bad_in = format!(
        "{}x1,2025-01-01 00:00:00.000+00:00,BTC,OKX,user,TRADE,__unknown,1,,,,,not a DaLI type\n",
        header("dali-in.csv")
    );
    let csvs = [
        ("dali-in.csv", bad_in),
        ("dali-out.csv", header("dali-out.csv")),
        ("dali-intra.csv", header("dali-intra.csv")),
    ];
    let dir = dali_dir(&csvs);
    let (ok, output) = run_dali(dir.path(), &dir.path().join("rp2"));
    assert!(!ok, "dali-check.sh must fail on a rejected row:\n{output}");
    assert!(output.contains("ERROR: Fatal exception occurred"), "{output}");
    assert!(output.contains("Invalid keyword: TRADE"), "{output}");
    assert!(output.contains("error: DaLI reported an error"), "{output}");
    assert!(!dir.path().join("rp2/okx_crypto_data.ods").exists(), "{output}");
}
