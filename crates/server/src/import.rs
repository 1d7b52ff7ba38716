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

    fn parsed(text: &[u8]) -> Vec<Parsed> {
        read_from(text)
    }

    /// What the parser hands over for `source`, in order.
    fn read_from(source: impl Read) -> Vec<Parsed> {
        let (sender, mut receiver) = mpsc::channel(16);
        parse(source, &sender);
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

    mod properties {
        use std::io;

        use proptest::prelude::*;
        use steward_domain::job::MAX_FIELD_CHARS;

        use super::*;

        const COLUMNS: [&str; 5] = ["username", "email", "name", "role", "language"];

        /// Pieces of a broken file: separators, quotes, line ends, NUL, a byte order mark,
        /// bytes that are not UTF-8, and now and then a huge field.
        fn broken_file() -> impl Strategy<Value = Vec<u8>> {
            let special: Vec<Vec<u8>> = [
                &b","[..],
                b"\"",
                b"\"\"",
                b"\n",
                b"\r\n",
                b"\r",
                b"\0",
                b"\xef\xbb\xbf",
                b"\xff",
                b"\xc3",
                b"\xe2\x82",
            ]
            .map(<[u8]>::to_vec)
            .to_vec();
            let piece = prop_oneof![
                4 => "[a-z@. ]{1,6}".prop_map(String::into_bytes),
                4 => proptest::sample::select(special),
                1 => any::<u8>().prop_map(|byte| vec![byte]),
                1 => (any::<u8>(), 1_000..100_000usize).prop_map(|(byte, n)| vec![byte; n]),
            ];
            let header = proptest::sample::select(vec![
                b"username,email,name\n".to_vec(),
                b"Email,NAME,username,role\r\n".to_vec(),
                Vec::new(),
            ]);
            (header, proptest::collection::vec(piece, 0..60))
                .prop_map(|(header, pieces)| [header, pieces.concat()].concat())
        }

        /// Text of a field as a spreadsheet may hold it, quotes and line breaks included.
        fn field() -> impl Strategy<Value = String> {
            let character = prop_oneof![
                6 => proptest::char::range(' ', '~'),
                2 => proptest::sample::select(
                    &['"', ',', '\n', '\r', '\t', '\0', 'ж', '中', '\u{feff}'][..]
                ),
                1 => any::<char>(),
            ];
            prop_oneof![
                4 => proptest::collection::vec(character.clone(), 0..20),
                1 => proptest::collection::vec(character, 300..400),
            ]
            .prop_map(String::from_iter)
        }

        /// The five fields of a row, now and then a blank row (of spaces, or empty).
        fn row() -> impl Strategy<Value = Vec<String>> {
            prop_oneof![
                4 => proptest::collection::vec(field(), 5),
                1 => proptest::collection::vec("[ \t]{0,2}", 5),
            ]
        }

        /// The required columns and some of the optional ones, in any order.
        fn columns() -> impl Strategy<Value = Vec<&'static str>> {
            proptest::sample::subsequence(&COLUMNS[3..], 0..=2).prop_flat_map(|optional| {
                Just([&COLUMNS[..3], &optional[..]].concat()).prop_shuffle()
            })
        }

        fn csv_file(columns: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(columns).expect("header");
            for row in rows {
                writer.write_record(row).expect("row");
            }
            writer.into_inner().expect("written")
        }

        /// The row the parser should make of `fields` under `columns`.
        fn expected_row(columns: &[&str], fields: &[String]) -> ImportRow {
            let value = |column: &str| {
                columns.iter().position(|c| *c == column).map(|index| {
                    fields[index]
                        .chars()
                        .take(MAX_FIELD_CHARS)
                        .collect::<String>()
                })
            };
            ImportRow {
                username: value("username").unwrap_or_default(),
                email: value("email").unwrap_or_default(),
                name: value("name").unwrap_or_default(),
                role: value("role").filter(|role| !role.is_empty()),
                language: value("language").filter(|language| !language.is_empty()),
                width: None,
            }
        }

        /// A source that fails after `good` bytes, as a dropped upload does.
        struct Interrupted {
            good: io::Cursor<Vec<u8>>,
        }

        impl Read for Interrupted {
            fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                match self.good.read(buffer)? {
                    0 => Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the upload broke off",
                    )),
                    n => Ok(n),
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            // Any bytes give batches of at most 1 000 rows, each valid or refused naming its
            // column or the row, then at most one refusal of the whole file, last.
            #[test]
            fn any_bytes_give_rows_then_at_most_one_refusal_of_the_file(file in broken_file()) {
                let all = parsed(file.as_slice());
                for (index, message) in all.iter().enumerate() {
                    match message {
                        Ok(rows) => {
                            prop_assert!((1..=HANDOVER_ROWS).contains(&rows.len()));
                            for row in rows {
                                for value in [&row.username, &row.email, &row.name] {
                                    prop_assert!(value.chars().count() <= MAX_FIELD_CHARS);
                                }
                                if let Err(problem) = row.validate() {
                                    let columns = ["row", "username", "email", "name", "language"];
                                    prop_assert!(columns.contains(&problem.field), "{problem:?}");
                                    prop_assert!(!problem.reason.is_empty());
                                }
                            }
                        }
                        Err(error) => {
                            prop_assert_eq!(index, all.len() - 1, "a refusal is the last message");
                            prop_assert_eq!(error.field(), Some("file"));
                        }
                    }
                }
            }

            // A file written by a CSV writer reads back as the rows written, without the blank
            // ones, each field cut to its first 320 characters.
            #[test]
            fn a_written_file_reads_back_as_its_rows(
                columns in columns(),
                rows in proptest::collection::vec(row(), 0..30),
            ) {
                let rows: Vec<Vec<String>> =
                    rows.into_iter().map(|row| row[..columns.len()].to_vec()).collect();
                let all = parsed(csv_file(&columns, &rows).as_slice());
                let expected: Vec<ImportRow> = rows
                    .iter()
                    .filter(|fields| !fields.iter().all(|value| value.trim().is_empty()))
                    .map(|fields| expected_row(&columns, fields))
                    .collect();
                let mut read = Vec::new();
                for message in all {
                    read.extend(message?);
                }
                prop_assert_eq!(read, expected);
            }

            // An upload that breaks off is refused as a whole, after whatever rows came before.
            #[test]
            fn an_upload_that_breaks_off_is_refused(
                rows in proptest::collection::vec(proptest::collection::vec(field(), 3), 0..10),
                cut in any::<proptest::sample::Index>(),
            ) {
                let file = csv_file(&COLUMNS[..3], &rows);
                let good = file[..cut.index(file.len() + 1)].to_vec();
                let all = read_from(Interrupted { good: io::Cursor::new(good) });
                let Some(Err(error)) = all.last() else {
                    return Err(TestCaseError::fail(format!("no refusal: {all:?}")));
                };
                prop_assert_eq!(error.field(), Some("file"));
                prop_assert!(error.to_string().contains("could not be read to the end"), "{error}");
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(8))]

            // Rows are handed over in batches of 1 000, the rest in a last one.
            #[test]
            fn rows_are_handed_over_in_batches_of_a_thousand(count in 0..2_600usize) {
                let rows: Vec<Vec<String>> = (0..count)
                    .map(|n| {
                        vec![format!("user{n}"), format!("user{n}@example.com"), "U".to_owned()]
                    })
                    .collect();
                let all = parsed(csv_file(&COLUMNS[..3], &rows).as_slice());
                let sizes = all
                    .into_iter()
                    .map(|batch| batch.map(|rows| rows.len()))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut expected = vec![HANDOVER_ROWS; count / HANDOVER_ROWS];
                if count % HANDOVER_ROWS > 0 {
                    expected.push(count % HANDOVER_ROWS);
                }
                prop_assert_eq!(sizes, expected);
            }
        }
    }
}
