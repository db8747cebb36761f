//! Issue 8, item 4: every run reads the files it wrote back, as each tool reads them, and
//! `reconciliation.csv` carries one `file:<format>` check per file over the period.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_period_report_reads_its_files_back() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(fast_config()).await;
    let data = dir.path().join("data");
    assert_code(&sync(&sim, &data, &[]).await, 0);
    let out = dir.path().join("q4");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "report",
        "--from",
        "2025-10-01",
        "--to",
        "2026-01-01",
        "--format",
        "transactions,koinly,dali",
        "--out",
        out.to_str().unwrap(),
    ];
    let r = run(&args, &[], dir.path()).await;
    assert_code(&r, 0);
    assert!(
        r.stdout.contains("; 3 files read back sum to the rows)"),
        "{}",
        r.stdout
    );
    let mut rdr = csv::Reader::from_path(out.join("reconciliation.csv")).unwrap();
    let files: Vec<Vec<String>> = rdr
        .records()
        .map(Result::unwrap)
        .filter(|r| r[0].starts_with("file:"))
        .map(|r| r.iter().map(str::to_string).collect())
        .collect();
    let checks: Vec<&str> = files.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        checks,
        ["file:transactions", "file:koinly", "file:dali"],
        "{files:#?}"
    );
    for row in &files {
        assert_eq!(
            (row[3].as_str(), row[4].as_str(), row[8].as_str()),
            ("2025-10-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "ok"),
            "{row:?}"
        );
    }
    // The files hold rows: the check compared real sums, not two empty files.
    assert!(
        files[1][9].contains(" assets compared with transactions.csv minus the "),
        "{}",
        files[1][9]
    );
    assert!(
        !files[1][9].starts_with("koinly.csv read back as the tool reads it: 0 assets"),
        "{}",
        files[1][9]
    );
    let koinly = std::fs::read_to_string(out.join("koinly.csv")).unwrap();
    assert!(koinly.lines().count() > 100, "{}", koinly.lines().count());
}
