//! Background jobs and bulk user imports: the job state machine, the columns of an import
//! file, the checks of one of its rows, and what a row that collides with an existing user or
//! an earlier row of the file becomes.

use crate::policy::{Actor, ManageUsers, authorize};
use crate::user::{EmailAddress, FullName, Language, Username};
use crate::{DomainError, OrganizationId, UserId};

/// Who may see and cancel a job: whoever started it, a SuperAdmin, and those who may manage
/// the users of its organization. To anyone else it does not exist.
pub fn authorize_job(
    actor: &Actor,
    organization: Option<OrganizationId>,
    initiator: Option<UserId>,
) -> Result<(), DomainError> {
    let manages = organization.is_some_and(|organization| {
        actor.can_see(organization) && authorize::<ManageUsers>(actor, organization).is_ok()
    });
    if actor.is_super_admin() || initiator == Some(actor.user) || manages {
        Ok(())
    } else {
        Err(DomainError::NotFound { what: "the job" })
    }
}

/// Whether an import may go on for the person who started it: checked before each batch, so
/// that an import stops once its initiator's account is no longer active or they may no longer
/// manage the organization's users. The rows done before stay done.
pub fn check_initiator(
    actor: &Actor,
    account_active: bool,
    organization: OrganizationId,
) -> Result<(), DomainError> {
    if !account_active {
        return Err(DomainError::forbidden(
            "the account that started the import is no longer active; the rows done before \
             stay done, and someone who may manage users can import the file again",
        ));
    }
    authorize::<ManageUsers>(actor, organization)
        .map(|_| ())
        .map_err(|_| {
            DomainError::forbidden(
                "the account that started the import may no longer manage users in the \
                 organization; the rows done before stay done, and someone who may can import \
                 the file again",
            )
        })
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Creates the users of a CSV file in an organization.
    UserImport,
    /// Checks the data against the consistency invariants, and repairs what it finds.
    ConsistencyRun,
}

impl JobKind {
    pub fn code(self) -> &'static str {
        match self {
            JobKind::UserImport => "USER_IMPORT",
            JobKind::ConsistencyRun => "CONSISTENCY_RUN",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "USER_IMPORT" => Some(JobKind::UserImport),
            "CONSISTENCY_RUN" => Some(JobKind::ConsistencyRun),
            _ => None,
        }
    }
}

/// Where a job is in its life: `QUEUED` → `RUNNING` → one of the three final states. A
/// queued job may also be cancelled before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    /// Whether the job has ended: nothing about it changes any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// Refuses to cancel a job that has ended.
    pub fn check_cancellable(self) -> Result<(), DomainError> {
        if self.is_finished() {
            return Err(DomainError::invalid(
                "id",
                format!(
                    "the job has ended already ({}); only a queued or running job can be cancelled",
                    self.code()
                ),
            ));
        }
        Ok(())
    }
}

/// The result of one row of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowStatus {
    /// The user was created (in a dry run: would have been).
    Created,
    /// The row describes a user that exists already, or repeats an earlier row: nothing to do.
    Skipped,
    /// The row is invalid or conflicts with another user; `field` and `reason` say why.
    Failed,
}

impl RowStatus {
    pub const ALL: [RowStatus; 3] = [RowStatus::Created, RowStatus::Skipped, RowStatus::Failed];

    pub fn code(self) -> &'static str {
        match self {
            RowStatus::Created => "CREATED",
            RowStatus::Skipped => "SKIPPED",
            RowStatus::Failed => "FAILED",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }
}

/// The longest value kept of a field as read from a file; anything longer is invalid in any
/// column, so the rest is cut off rather than stored.
pub const MAX_FIELD_CHARS: usize = 320;

const REQUIRED_COLUMNS: [&str; 3] = ["username", "email", "name"];
const OPTIONAL_COLUMNS: [&str; 2] = ["role", "language"];

/// Where each column of an import file is, read from its header line. Header names are
/// matched without regard to case or surrounding spaces, and a byte order mark before the
/// first one is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportColumns {
    username: usize,
    email: usize,
    name: usize,
    role: Option<usize>,
    language: Option<usize>,
    width: usize,
}

impl ImportColumns {
    pub fn from_header<'a>(
        header: impl IntoIterator<Item = &'a str>,
    ) -> Result<ImportColumns, DomainError> {
        let names: Vec<String> = header
            .into_iter()
            .map(|name| name.trim_start_matches('\u{feff}').trim().to_lowercase())
            .collect();
        let expected = || {
            format!(
                "expected a header line with the columns {} and optionally {}",
                REQUIRED_COLUMNS.join(","),
                OPTIONAL_COLUMNS.join(",")
            )
        };
        if names.iter().all(String::is_empty) {
            return Err(DomainError::invalid(
                "file",
                format!("is empty or starts with a blank line; {}", expected()),
            ));
        }
        let unknown: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|name| !REQUIRED_COLUMNS.contains(name) && !OPTIONAL_COLUMNS.contains(name))
            .collect();
        if !unknown.is_empty() {
            return Err(DomainError::invalid(
                "file",
                format!(
                    "has unknown columns {}; {} (is this a CSV file?)",
                    quoted(&unknown),
                    expected()
                ),
            ));
        }
        for (index, name) in names.iter().enumerate() {
            if names[..index].contains(name) {
                return Err(DomainError::invalid(
                    "file",
                    format!("has the column \"{name}\" twice; {}", expected()),
                ));
            }
        }
        let position = |wanted: &str| names.iter().position(|name| name == wanted);
        let missing: Vec<&str> = REQUIRED_COLUMNS
            .into_iter()
            .filter(|column| position(column).is_none())
            .collect();
        let (Some(username), Some(email), Some(name)) =
            (position("username"), position("email"), position("name"))
        else {
            return Err(DomainError::invalid(
                "file",
                format!("lacks the columns {}; {}", quoted(&missing), expected()),
            ));
        };
        Ok(ImportColumns {
            username,
            email,
            name,
            role: position("role"),
            language: position("language"),
            width: names.len(),
        })
    }

    /// A row as read, from its fields in file order. A row with another number of fields
    /// than the header is kept with what it has and refused by [`ImportRow::validate`].
    pub fn row(&self, fields: &[&str]) -> ImportRow {
        let field = |index: usize| -> String {
            fields
                .get(index)
                .map(|value| value.chars().take(MAX_FIELD_CHARS).collect())
                .unwrap_or_default()
        };
        let optional = |index: Option<usize>| index.map(field).filter(|value| !value.is_empty());
        ImportRow {
            username: field(self.username),
            email: field(self.email),
            name: field(self.name),
            role: optional(self.role),
            language: optional(self.language),
            width: (fields.len() != self.width).then_some((fields.len(), self.width)),
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One row of an import file, as written in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportRow {
    pub username: String,
    pub email: String,
    pub name: String,
    pub role: Option<String>,
    pub language: Option<String>,
    /// `(fields found, fields expected)` when the row's length differs from the header's.
    pub width: Option<(usize, usize)>,
}

/// Why a row was skipped or failed, in the words of the file's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The column at fault (`username`, `email`, `name`, `role`, `language`), or `row` for
    /// the row as a whole.
    pub field: &'static str,
    pub reason: String,
}

impl From<DomainError> for RowProblem {
    fn from(error: DomainError) -> Self {
        RowProblem {
            field: error.field().unwrap_or("row"),
            reason: match error {
                DomainError::Invalid { reason, .. } | DomainError::Conflict { reason, .. } => {
                    reason
                }
                other => other.to_string(),
            },
        }
    }
}

/// A row whose fields are valid, as the same checks as creating one user find them. Whether
/// its role exists and its address is accepted by the organization is for the store to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidImportRow {
    pub username: Username,
    pub email: EmailAddress,
    pub full_name: FullName,
    /// The role's name, when the row gives one.
    pub role: Option<String>,
    pub language: Option<Language>,
}

impl ImportRow {
    pub fn validate(&self) -> Result<ValidImportRow, RowProblem> {
        if let Some((found, expected)) = self.width {
            return Err(RowProblem {
                field: "row",
                reason: format!(
                    "has {found} fields where the header has {expected}; check for a missing \
                     or extra comma, or a quote that is not closed"
                ),
            });
        }
        Ok(ValidImportRow {
            username: Username::parse(&self.username)?,
            email: EmailAddress::parse(&self.email)?,
            full_name: FullName::parse(&self.name)?,
            role: self
                .role
                .as_deref()
                .map(str::trim)
                .filter(|role| !role.is_empty())
                .map(str::to_owned),
            language: self.language.as_deref().map(Language::parse).transpose()?,
        })
    }
}

/// Which of a valid row's unique values another user, or an earlier row, has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collision {
    /// Both the username and the e-mail address: the same person.
    Both,
    Username,
    Email,
}

/// What a valid row that collides with an existing user becomes: the same user is skipped
/// (so importing a file again creates nothing twice), and the reason says whether they are in
/// the organization; a user who has only one of the two values makes the row fail, as
/// creating that one user would.
pub fn against_existing_user(collision: Collision, member: bool) -> (RowStatus, RowProblem) {
    match collision {
        Collision::Both => (
            RowStatus::Skipped,
            RowProblem {
                field: "username",
                reason: if member {
                    "exists already and is a member of this organization".into()
                } else {
                    "exists already but is not a member of this organization; invite the user \
                     to add them"
                        .into()
                },
            },
        ),
        Collision::Username => (
            RowStatus::Failed,
            RowProblem {
                field: "username",
                reason: "is already taken by a user with another e-mail address".into(),
            },
        ),
        Collision::Email => (
            RowStatus::Failed,
            RowProblem {
                field: "email",
                reason: "is already registered to a user with another username".into(),
            },
        ),
    }
}

/// What a valid row that collides with an earlier row of the same file becomes: a repeat of
/// it is skipped, a row sharing only one value fails.
pub fn against_earlier_row(collision: Collision, row_number: i64) -> (RowStatus, RowProblem) {
    match collision {
        Collision::Both => (
            RowStatus::Skipped,
            RowProblem {
                field: "row",
                reason: format!("repeats row {row_number} of the file"),
            },
        ),
        Collision::Username => (
            RowStatus::Failed,
            RowProblem {
                field: "username",
                reason: format!("is also in row {row_number} with another e-mail address"),
            },
        ),
        Collision::Email => (
            RowStatus::Failed,
            RowProblem {
                field: "email",
                reason: format!("is also in row {row_number} with another username"),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(header: &[&str]) -> Result<ImportColumns, DomainError> {
        ImportColumns::from_header(header.iter().copied())
    }

    #[test]
    fn header_names_match_without_case_spaces_or_a_byte_order_mark() {
        let found = columns(&["\u{feff}Name", " EMAIL ", "UserName", "Language"]).expect("header");
        let row = found.row(&["Ann Lee", "ann@example.com", "ann", "de"]);
        assert_eq!(row.username, "ann");
        assert_eq!(row.email, "ann@example.com");
        assert_eq!(row.name, "Ann Lee");
        assert_eq!(row.language.as_deref(), Some("de"));
        assert_eq!(row.role, None);
        assert!(row.validate().is_ok());
    }

    #[test]
    fn a_missing_unknown_or_repeated_column_is_named() {
        let missing = columns(&["username", "name"]).expect_err("no email");
        assert!(
            missing.to_string().contains("lacks the columns \"email\""),
            "{missing}"
        );
        let unknown = columns(&["username", "email", "name", "e-mail"]).expect_err("unknown");
        assert!(
            unknown.to_string().contains("unknown columns \"e-mail\""),
            "{unknown}"
        );
        let twice = columns(&["username", "email", "name", "Email"]).expect_err("twice");
        assert!(twice.to_string().contains("\"email\" twice"), "{twice}");
        let empty = columns(&[""]).expect_err("empty");
        assert!(empty.to_string().contains("is empty"), "{empty}");
    }

    #[test]
    fn each_rule_of_single_creation_applies_to_a_row() {
        let found = columns(&["username", "email", "name", "role", "language"]).expect("header");
        let problem = |fields: &[&str]| found.row(fields).validate().expect_err("invalid");
        assert_eq!(
            problem(&["a", "a@example.com", "A", "", ""]).field,
            "username"
        );
        assert_eq!(
            problem(&["ann", "not-an-address", "A", "", ""]).field,
            "email"
        );
        assert_eq!(
            problem(&["ann", "a@example.com", " ", "", ""]).field,
            "name"
        );
        assert_eq!(
            problem(&["ann", "a@example.com", "A", "", "fr"]).field,
            "language"
        );
        let short = problem(&["ann", "a@example.com"]);
        assert_eq!(short.field, "row");
        assert!(short.reason.contains("has 2 fields where the header has 5"));
        let valid = found
            .row(&["ann", "a@example.com", "Ann", " Editor ", ""])
            .validate()
            .expect("valid");
        assert_eq!(valid.role.as_deref(), Some("Editor"));
        assert_eq!(valid.language, None);
    }

    #[test]
    fn very_long_fields_are_cut_and_still_refused() {
        let found = columns(&["username", "email", "name"]).expect("header");
        let long = "x".repeat(10_000);
        let row = found.row(&[&long, "a@example.com", "A"]);
        assert_eq!(row.username.chars().count(), MAX_FIELD_CHARS);
        assert_eq!(row.validate().expect_err("too long").field, "username");
    }

    #[test]
    fn the_same_person_is_skipped_and_a_half_match_fails() {
        let (status, problem) = against_existing_user(Collision::Both, true);
        assert_eq!(status, RowStatus::Skipped);
        assert!(problem.reason.contains("is a member"));
        let (_, problem) = against_existing_user(Collision::Both, false);
        assert!(problem.reason.contains("invite the user"));
        assert_eq!(
            against_existing_user(Collision::Email, false).0,
            RowStatus::Failed
        );
        let (status, problem) = against_earlier_row(Collision::Username, 3);
        assert_eq!(status, RowStatus::Failed);
        assert_eq!(problem.field, "username");
        assert!(problem.reason.contains("row 3"));
        assert_eq!(
            against_earlier_row(Collision::Both, 3).0,
            RowStatus::Skipped
        );
    }

    #[test]
    fn an_import_goes_on_only_for_an_active_initiator_who_may_still_manage_users() {
        use crate::user::PlatformRole;
        let organization = OrganizationId::new();
        let outsider = Actor::new(UserId::new(), None, []);
        let refused = check_initiator(&outsider, true, organization).expect_err("not a member");
        assert!(
            refused.to_string().contains("may no longer manage users"),
            "{refused}"
        );
        let admin = Actor::new(UserId::new(), Some(PlatformRole::SuperAdmin), []);
        assert!(check_initiator(&admin, true, organization).is_ok());
        let suspended = check_initiator(&admin, false, organization).expect_err("inactive");
        assert!(
            suspended.to_string().contains("no longer active"),
            "{suspended}"
        );
    }

    #[test]
    fn only_unfinished_jobs_can_be_cancelled() {
        assert!(JobStatus::Queued.check_cancellable().is_ok());
        assert!(JobStatus::Running.check_cancellable().is_ok());
        assert!(JobStatus::Succeeded.check_cancellable().is_err());
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::from_code(status.code()), Some(status));
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, text};

        const COLUMNS: [&str; 5] = ["username", "email", "name", "role", "language"];

        /// The required columns and some of the optional ones, in any order.
        fn columns() -> impl Strategy<Value = Vec<&'static str>> {
            proptest::sample::subsequence(&COLUMNS[3..], 0..=2).prop_flat_map(|optional| {
                Just([&COLUMNS[..3], &optional[..]].concat()).prop_shuffle()
            })
        }

        /// A header name as a spreadsheet may write it.
        fn spelled(name: &str, upper: bool, spaced: bool) -> String {
            let name = if upper {
                name.to_uppercase()
            } else {
                name.to_owned()
            };
            if spaced { format!(" {name} ") } else { name }
        }

        proptest! {
            // A header of the known columns in any order, case and spacing, after a byte
            // order mark or not, finds each column's field.
            #[test]
            fn a_header_finds_its_columns_in_any_order(
                names in columns(),
                upper in any::<bool>(),
                spaced in any::<bool>(),
                bom in any::<bool>(),
                values in proptest::collection::vec(text(400), 5),
            ) {
                let mut header: Vec<String> =
                    names.iter().map(|name| spelled(name, upper, spaced)).collect();
                if bom {
                    header[0].insert(0, '\u{feff}');
                }
                let columns = ImportColumns::from_header(header.iter().map(String::as_str))?;
                let index = |name: &str| COLUMNS.iter().position(|c| *c == name).expect("known");
                let fields: Vec<&str> =
                    names.iter().map(|name| values[index(name)].as_str()).collect();
                let row = columns.row(&fields);
                let kept = |index: usize| -> String {
                    values[index].chars().take(MAX_FIELD_CHARS).collect()
                };
                let optional = |index: usize| {
                    Some(kept(index))
                        .filter(|value| names.contains(&COLUMNS[index]) && !value.is_empty())
                };
                prop_assert_eq!(row.username, kept(0));
                prop_assert_eq!(row.email, kept(1));
                prop_assert_eq!(row.name, kept(2));
                prop_assert_eq!(row.role, optional(3));
                prop_assert_eq!(row.language, optional(4));
                prop_assert_eq!(row.width, None);
            }

            // A header is accepted exactly when it names each required column once and nothing
            // unknown; a refusal names the file.
            #[test]
            fn a_header_names_the_required_columns_once_and_nothing_else(
                header in proptest::collection::vec(
                    prop_oneof![
                        proptest::sample::select(&COLUMNS[..]).prop_map(String::from),
                        "(Email|phone| name|)",
                        any_text(),
                    ],
                    0..7,
                ),
            ) {
                let names: Vec<String> = header
                    .iter()
                    .map(|n| n.trim_start_matches('\u{feff}').trim().to_lowercase())
                    .collect();
                let once = |column: &str| names.iter().filter(|n| *n == column).count() == 1;
                let rule = names.iter().all(|n| COLUMNS.contains(&n.as_str()))
                    && COLUMNS.iter().all(|c| names.iter().filter(|n| n == c).count() <= 1)
                    && COLUMNS[..3].iter().all(|c| once(c));
                match ImportColumns::from_header(header.iter().map(String::as_str)) {
                    Ok(_) => prop_assert!(rule, "{header:?} was accepted"),
                    Err(error) => {
                        prop_assert!(!rule, "{header:?}: {error}");
                        prop_assert_eq!(error.field(), Some("file"));
                    }
                }
            }

            // A row is valid exactly when it has the header's width and its fields pass the
            // rules of one user; a problem names the column at fault, or the row.
            #[test]
            fn a_row_is_valid_exactly_when_its_fields_are(
                fields in proptest::collection::vec(
                    prop_oneof![any_text(), "[a-z]{3,8}", "[a-z]{1,5}@example\\.com", "(de|EN|fr)"],
                    3..=6,
                ),
            ) {
                let columns = ImportColumns::from_header(COLUMNS)?;
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                let row = columns.row(&fields);
                match row.validate() {
                    Ok(valid) => {
                        prop_assert_eq!(fields.len(), COLUMNS.len());
                        prop_assert_eq!(Ok(valid.username), Username::parse(&row.username));
                        prop_assert_eq!(Ok(valid.email), EmailAddress::parse(&row.email));
                        prop_assert_eq!(Ok(valid.full_name), FullName::parse(&row.name));
                        let role =
                            row.role.as_deref().map(str::trim).filter(|role| !role.is_empty());
                        prop_assert_eq!(valid.role.as_deref(), role);
                    }
                    Err(problem) if fields.len() != COLUMNS.len() => {
                        prop_assert_eq!(problem.field, "row");
                    }
                    Err(problem) => {
                        let first_fault = [
                            Username::parse(&row.username).err(),
                            EmailAddress::parse(&row.email).err(),
                            FullName::parse(&row.name).err(),
                            row.language.as_deref().and_then(|l| Language::parse(l).err()),
                        ]
                        .into_iter()
                        .flatten()
                        .next();
                        prop_assert_eq!(Some(problem.field), first_fault.and_then(|e| e.field()));
                    }
                }
            }
        }
    }
}
