//! Reading a CSV file into a queued bulk import. The file is parsed on a blocking thread as
//! it is read and handed over in small batches, so memory stays flat whatever its size. The
//! import stays invisible (`STAGING`) until the whole file was read, and a file that turns out
//! not to be CSV halfway through is removed with the rows read so far.

use std::io::Read;

use steward_domain::DomainError;
use steward_domain::job::{ImportColumns, ImportRow};
use steward_store::{AuditEntry, ImportStaging, JobRecord, NewUserImport, Store};
use tokio::sync::mpsc;

use crate::error::{AppError, expected};

/// Rows handed from the parser to the database at a time.
const HANDOVER_ROWS: usize = 1_000;

type Parsed = Result<Vec<ImportRow>, DomainError>;

/// Reads `source` as an import file and queues the import. A file that is not usable (not
/// CSV, a missing column, no rows) is an expected failure, returned inside `Ok`.
pub async fn stage_csv<R: Read + Send + 'static>(
    store: &Store,
    import: &NewUserImport,
    source: R,
    entry: &AuditEntry,
) -> Result<Result<JobRecord, DomainError>, AppError> {
    let mut staging = match expected(store.begin_user_import(import, entry.at).await)? {
        Ok(staging) => staging,
        Err(error) => return Ok(Err(error)),
    };
    let (sender, mut receiver) = mpsc::channel::<Parsed>(4);
    let parser = tokio::task::spawn_blocking(move || parse(source, &sender));
    let mut refused = None;
    while let Some(parsed) = receiver.recv().await {
        let added = match parsed {
            Ok(rows) => staging.add(&rows).await,
            Err(error) => {
                refused = Some(error);
                break;
            }
        };
        if let Err(error) = added {
            abandon(staging).await;
            return Err(error.into());
        }
    }
    // Dropping the receiver stops a parser that still has rows to hand over.
    drop(receiver);
    parser
        .await
        .map_err(|error| AppError::internal(format!("the CSV parser failed: {error}")))?;
    if refused.is_none() && staging.rows() == 0 {
        refused = Some(DomainError::invalid(
            "file",
            "has a header line but no rows; add one line per user below it",
        ));
    }
    if let Some(error) = refused {
        abandon(staging).await;
        return Ok(Err(error));
    }
    expected(staging.finish(entry).await)
}

/// Removes an import that will not start. Should that fail, the upkeep purges it later.
async fn abandon(staging: ImportStaging) {
    let job = staging.job();
    if let Err(error) = staging.abandon().await {
        tracing::warn!(%job, error = %AppError::from(error).describe(), "an abandoned import is left for the upkeep to remove");
    }
}

/// Parses the file, sending its rows in batches, or the first problem that makes it unusable.
/// Stops early when the receiver is gone.
fn parse<R: Read>(source: R, sender: &mpsc::Sender<Parsed>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(source);
    let mut record = csv::StringRecord::new();
    let columns = match reader.read_record(&mut record) {
        Ok(true) => ImportColumns::from_header(record.iter()),
        Ok(false) => Err(DomainError::invalid(
            "file",
            "is empty; expected a header line with the columns username,email,name and \
             optionally role,language, then one line per user",
        )),
        Err(error) => Err(unreadable(&error)),
    };
    let columns = match columns {
        Ok(columns) => columns,
        Err(error) => {
            let _ = sender.blocking_send(Err(error));
            return;
        }
    };
    let mut batch = Vec::with_capacity(HANDOVER_ROWS);
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {
                if record.iter().all(|field| field.trim().is_empty()) {
                    continue;
                }
                let fields: Vec<&str> = record.iter().collect();
                batch.push(columns.row(&fields));
                if batch.len() == HANDOVER_ROWS {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(HANDOVER_ROWS));
                    if sender.blocking_send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            Ok(false) => break,
            Err(error) => {
                let _ = sender.blocking_send(Err(unreadable(&error)));
                return;
            }
        }
    }
    if !batch.is_empty() {
        let _ = sender.blocking_send(Ok(batch));
    }
}

/// What to tell the uploader about a file the CSV reader gave up on.
fn unreadable(error: &csv::Error) -> DomainError {
    let line = error
        .position()
        .map(|position| format!("line {}", position.line()))
        .unwrap_or_else(|| "a line".to_owned());
    let reason = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => format!(
            "is not UTF-8 text at {line}: is it a CSV file? Save spreadsheets as \"CSV UTF-8\""
        ),
        csv::ErrorKind::Io(error) => format!("could not be read to the end: {error}"),
        _ => format!("is not valid CSV at {line}: {error}"),
    };
    DomainError::invalid("file", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &'static [u8]) -> Vec<Parsed> {
        let (sender, mut receiver) = mpsc::channel(16);
        parse(text, &sender);
        drop(sender);
        let mut all = Vec::new();
        while let Ok(message) = receiver.try_recv() {
            all.push(message);
        }
        all
    }

    #[test]
    fn a_bom_quoted_fields_and_crlf_lines_are_read() {
        let all = parsed(
            b"\xef\xbb\xbfUsername,EMAIL,name\r\nann,ann@example.com,\"Lee, Ann\"\r\n\r\nbob,bob@example.com,\"Bob \"\"B\"\" Ray\"\r\n",
        );
        let [Ok(rows)] = all.as_slice() else {
            panic!("one batch expected: {all:?}");
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "Lee, Ann");
        assert_eq!(rows[1].name, "Bob \"B\" Ray");
        assert_eq!(rows[1].username, "bob");
    }

    #[test]
    fn a_file_that_is_not_utf8_text_is_refused_with_its_line() {
        let all = parsed(b"username,email,name\nann,ann@example.com,A\n\x89PNG\xff\xfe,x,y\n");
        let Some(Err(error)) = all.last() else {
            panic!("an error expected: {all:?}");
        };
        assert!(
            error.to_string().contains("not UTF-8 text at line 3"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_file_or_a_missing_column_is_refused() {
        let empty = parsed(b"");
        assert!(matches!(empty.as_slice(), [Err(error)] if error.to_string().contains("is empty")));
        let missing = parsed(b"username,name\nann,Ann\n");
        assert!(
            matches!(missing.as_slice(), [Err(error)] if error.to_string().contains("\"email\""))
        );
    }
}
