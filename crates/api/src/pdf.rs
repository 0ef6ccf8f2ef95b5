//! PDF reports: the HTML report printed by headless Chromium, charts (inline SVG) included.
//!
//! Chromium is found as `MESHBENCH_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on `PATH`; a server without one answers PDF requests 503
//! `pdf_unavailable`. The page needs no network and runs no script, so Chromium is started
//! without its sandbox (it refuses to run as root with it) and with networking off.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;

use crate::ApiError;

/// The variable naming the Chromium binary.
const CHROMIUM_VAR: &str = "MESHBENCH_CHROMIUM";
/// The longest a print may take.
const PRINT_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium to print with, if there is one.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(CHROMIUM_VAR).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "pdf_unavailable", message)
}

/// `html` printed to PDF.
pub(crate) async fn print(html: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let Some(browser) = chromium() else {
        return Err(unavailable(format!(
            "PDF reports need Chromium on the server's host (apt-get install chromium, or set \
             {CHROMIUM_VAR}); html, markdown, csv and json work without it"
        )));
    };
    let dir = std::env::temp_dir().join(format!("meshbench-pdf-{}", uuid::Uuid::new_v4().simple()));
    let outcome = print_in(&browser, &dir, html).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    outcome
}

async fn print_in(browser: &Path, dir: &Path, html: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let io = |what: &str, e: std::io::Error| ApiError::internal(&format!("{what}: {e}"));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| io("making the print directory", e))?;
    let page = dir.join("report.html");
    let pdf = dir.join("report.pdf");
    tokio::fs::write(&page, html)
        .await
        .map_err(|e| io("writing the page", e))?;
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
            "--print-to-pdf-no-header",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(PRINT_TIMEOUT, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(unavailable(format!(
                "cannot run {}: {e}",
                browser.display()
            )))
        }
        Err(_) => {
            return Err(unavailable(format!(
                "{} did not print the report within {} s",
                browser.display(),
                PRINT_TIMEOUT.as_secs()
            )))
        }
    };
    match tokio::fs::read(&pdf).await {
        Ok(bytes) if bytes.starts_with(b"%PDF-") => Ok(bytes),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last: Vec<&str> = stderr.lines().rev().take(3).collect();
            Err(unavailable(format!(
                "{} printed no PDF ({}): {}",
                browser.display(),
                output.status,
                last.into_iter().rev().collect::<Vec<_>>().join(" / ")
            )))
        }
    }
}
