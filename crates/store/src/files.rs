//! Raw result files under `RESULTS_DIR/<job_id>/`, as the seed's scripts left them: the
//! result JSON for tools and people, and the latency histograms on their own so HdrHistogram
//! tools can read them without parsing the JSON.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Longest job id accepted (a UUID has 36 characters).
const MAX_JOB_ID_LEN: usize = 128;

/// Checks that `job_id` can name a directory under `RESULTS_DIR`: 1 to 128 ASCII letters,
/// digits, `-` or `_` (so a UUID passes, and `/`, `\`, `.` and `..` cannot escape the
/// directory).
pub fn validate_job_id(job_id: &str) -> Result<()> {
    validate_id("job_id", "a job id", job_id)
}

fn validate_id(field: &'static str, what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_JOB_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            field,
            message: format!(
                "`{}` is not {what} (1–{MAX_JOB_ID_LEN} letters, digits, `-` or `_`)",
                id.escape_debug()
            ),
        })
    }
}

/// [`write_report_file`] on a blocking thread, for async callers (the API, which must not
/// block its runtime on disk writes).
pub async fn save_report_file(
    results_dir: PathBuf,
    report_id: String,
    extension: &'static str,
    bytes: Vec<u8>,
) -> Result<PathBuf> {
    tokio::task::spawn_blocking(move || {
        write_report_file(&results_dir, &report_id, extension, &bytes)
    })
    .await
    .map_err(|e| Error::Io {
        path: PathBuf::from("reports"),
        source: std::io::Error::other(e),
    })?
}

/// Writes a rendered report to `results_dir/reports/<report_id>.<extension>` (creating the
/// directory; temporary name, then rename) and returns the file's path. `report_id` follows
/// the rules of [`validate_job_id`] and `extension` must be 1–8 ASCII letters or digits, so
/// neither can leave the directory. Blocking file I/O: call it from
/// `tokio::task::spawn_blocking` in async code.
pub fn write_report_file(
    results_dir: &Path,
    report_id: &str,
    extension: &str,
    bytes: &[u8],
) -> Result<PathBuf> {
    validate_id("report_id", "a report id", report_id)?;
    if extension.is_empty()
        || extension.len() > 8
        || !extension.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(Error::Invalid {
            field: "extension",
            message: format!("`{}` is not a file extension", extension.escape_debug()),
        });
    }
    let dir = results_dir.join("reports");
    fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join(format!("{report_id}.{extension}"));
    write_atomically(&path, bytes)?;
    Ok(path)
}

/// Writes `result` to `results_dir/<job_id>/result.json` (pretty-printed), plus its
/// `histogram` and `service_histogram` fields, when they are strings, to `histogram.hdr`
/// and `service_histogram.hdr` (base64 of HdrHistogram's compressed V2 encoding, as in the
/// result). Returns the job's directory.
///
/// Each file is written to a temporary name and renamed, so a reader never sees half a
/// file. `job_id` is checked with [`validate_job_id`] first. This is blocking file I/O: call
/// it from `tokio::task::spawn_blocking` in async code.
pub fn write_result_files(
    results_dir: &Path,
    job_id: &str,
    result: &serde_json::Value,
) -> Result<PathBuf> {
    validate_job_id(job_id)?;
    let dir = results_dir.join(job_id);
    fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let json = serde_json::to_vec_pretty(result).map_err(|e| Error::Invalid {
        field: "result",
        message: format!("cannot serialize: {e}"),
    })?;
    write_atomically(&dir.join("result.json"), &json)?;
    for (field, file) in [
        ("histogram", "histogram.hdr"),
        ("service_histogram", "service_histogram.hdr"),
    ] {
        if let Some(text) = result.get(field).and_then(serde_json::Value::as_str) {
            write_atomically(&dir.join(file), text.as_bytes())?;
        }
    }
    Ok(dir)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids() {
        assert!(validate_job_id("3f2b8c1e-9d4a-4b7e-8f00-1234567890ab").is_ok());
        assert!(validate_job_id("job_1").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            "a b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(validate_job_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn report_files_stay_in_their_directory() {
        let dir = std::env::temp_dir().join(format!("meshbench-files-{}", std::process::id()));
        let path = write_report_file(&dir, "r-1", "html", b"<p>hi</p>").unwrap();
        assert_eq!(path, dir.join("reports").join("r-1.html"));
        assert_eq!(fs::read(&path).unwrap(), b"<p>hi</p>");
        assert!(write_report_file(&dir, "../x", "html", b"").is_err());
        assert!(write_report_file(&dir, "r-2", "../h", b"").is_err());
        assert!(write_report_file(&dir, "r-2", "", b"").is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
