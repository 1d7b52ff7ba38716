//! Every SQL statement of Steward, over SQLite (the embedded default) and PostgreSQL.
//!
//! One [`Store`] serves both backends. Queries are written once, with `$1`-style placeholders
//! that both drivers accept, and expanded for each typed pool by the [`on_pool!`] and
//! [`on_tx!`] macros, so PostgreSQL keeps its native types (uuid, timestamptz, jsonb) and
//! SQLite keeps sqlx's encodings of them. Every change is written in one transaction together
//! with its audit event.

/// Binds each value as the next placeholder of an open `IN (` list of a `QueryBuilder`, and
/// closes the list. Defined before the modules so that all of them can use it.
macro_rules! push_in_list {
    ($query:expr, $values:expr) => {{
        let mut separated = $query.separated(", ");
        for value in $values {
            separated.push_bind(value);
        }
        $query.push(")");
    }};
}

mod accounts;
mod api_keys;
mod audit;
#[cfg(feature = "bench")]
pub mod bench;
mod deletion;
mod error;
mod groups;
mod imports;
mod invitations;
mod jobs;
mod mfa;
mod organizations;
mod outbox;
mod password_rules;
mod pool;
mod preferences;
mod projects;
mod refresh_tokens;
mod resources;
mod roles;
mod sessions;
mod shares;
mod signing_keys;
mod ssh_keys;
#[cfg(feature = "testing")]
pub mod testing;
mod throttles;
mod timestamp;
mod transfers;
mod user_directory;
mod users;

pub use accounts::{Creator, ProfileChanges};
pub use api_keys::{ApiKeyPrincipal, ApiKeyRecord, ApiKeySecret, NewApiKey};
pub use audit::{AuditEntry, AuditEventRecord, AuditFilter, NewAuditEvent};
pub use deletion::{DeletionHoldRecord, DeletionOutcome, DeletionPlan, KindPlan, OrganizationPlan};
pub use error::StoreError;
pub use groups::GroupRecord;
pub use imports::{BatchOutcome, ImportRowRecord, ImportStaging, NewUserImport};
pub use invitations::{InvitationRecord, LinkHolder, NewInvitation, NewLink};
pub use jobs::{ClaimedJob, JobFilter, JobRecord};
pub use mfa::{RecoveryCodeRecord, TotpRecord};
pub use organizations::{MembershipRecord, OrganizationRecord};
pub use outbox::{
    AttemptFailed, ClaimedNotification, DeliveredVia, MailboxMessage, MailboxRecord, OutboxRecord,
    Recipient,
};
pub use pool::{Backend, Store, StoreOptions, Tx};
pub use projects::ProjectRecord;
pub use refresh_tokens::{NewRefreshToken, Refreshed, SessionRecord};
pub use resources::{
    NewResource, ResourceChanges, ResourceFilter, ResourceKindRecord, ResourceRecord,
};
pub use roles::{BindingScope, BindingSubject, RoleBindingRecord, RoleDefinition, RoleRecord};
pub use sessions::{NewSession, SessionPrincipal};
pub use shares::ResourceShareRecord;
pub use signing_keys::{NewSigningKey, SigningKeyRecord};
pub use ssh_keys::{MAX_SSH_KEYS_PER_USER, SshKeyRecord};
pub use timestamp::Timestamp;
pub use transfers::{TransferItemRecord, TransferRecord, TransferSelection};
pub use user_directory::{
    ListedUser, SortDirection, UserListFilter, UserOrder, UserPageRequest, UserPosition,
    UserSearch, UserSortKey,
};
pub use users::{LoginCandidate, NewUser, UserRecord};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
