//! Consistency checks and repairs (SPEC.md §11): one set-based statement per invariant over a
//! chunk of users (or organizations), walked in keyset order by a job that stores what it
//! finds; and one short, idempotent transaction per fix.
//!
//! A run's step ([`Store::consistency_step`]) checks the next chunk and stores its findings
//! together with the job's cursor, so a run resumes after the last chunk stored. A repairing
//! run fixes the findings it stored before it checks further, so after a crash it finds the
//! open findings again and fixes them then.

use serde_json::json;
use sqlx::QueryBuilder;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::consistency::{
    FindingCounts, FindingStatus, Invariant, Phase, RunCursor, RunScope,
};
use steward_domain::deletion::TransferReason;
use steward_domain::job::JobKind;
use steward_domain::{DomainError, JobId, OrganizationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::effective_roles::RECOMPUTED;
use crate::imports::BatchOutcome;
use crate::jobs::ClaimedJob;
use crate::{AuditEntry, JobRecord, Result, Store, StoreError, Timestamp, Tx, on_pool, on_tx};

/// One violation of an invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `None` in a direct report, which stores nothing.
    pub id: Option<Uuid>,
    pub invariant: Invariant,
    /// What the subject is: `MEMBERSHIP`, `GROUP_MEMBER` (the group; the user is `user`),
    /// `ROLE_BINDING`, `RESOURCE_SHARE` (the resource; shared with `user`), `RESOURCE`,
    /// `USER`, `SESSION`, `API_KEY`, `INVITATION` or `ORGANIZATION`.
    pub subject_type: &'static str,
    pub subject_id: Uuid,
    pub user: Option<UserId>,
    pub organization: Option<OrganizationId>,
    pub detail: String,
    /// The fix a repair applies, or what a person must do.
    pub fix: String,
    pub status: FindingStatus,
    /// Why a finding stays unresolved.
    pub note: Option<String>,
    pub found_at: OffsetDateTime,
    pub repaired_at: Option<OffsetDateTime>,
}

/// Which findings of a run a page shows.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub invariant: Option<Invariant>,
    pub status: Option<FindingStatus>,
    pub user: Option<UserId>,
}

/// A row of a check: the subject, its user and organization, and one column of detail.
#[derive(sqlx::FromRow)]
struct CheckRow {
    subject: Uuid,
    user_id: Option<Uuid>,
    organization_id: Option<Uuid>,
    info: Option<String>,
}

/// The checks over a chunk of users (`{ids}`), each with the invariant it finds and the
/// type of its subject. `{now}` is the run's time.
const USER_CHECKS: &[(Invariant, &str, &str)] = &[
    (
        Invariant::MembershipOfDeletedUser,
        "MEMBERSHIP",
        "SELECT m.id AS subject, m.user_id AS user_id, m.organization_id AS organization_id, \
         m.status AS info FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.user_id IN {ids} AND u.status = 'DELETED' AND m.status <> 'DISABLED'",
    ),
    (
        Invariant::GroupMemberNotMember,
        "GROUP_MEMBER",
        "SELECT gm.group_id AS subject, gm.user_id AS user_id, g.organization_id AS organization_id, \
         g.name AS info FROM group_members gm JOIN groups g ON g.id = gm.group_id \
         JOIN users u ON u.id = gm.user_id \
         WHERE gm.user_id IN {ids} AND g.archived_at IS NULL AND (u.status = 'DELETED' OR NOT EXISTS \
         (SELECT 1 FROM memberships m WHERE m.organization_id = g.organization_id AND m.user_id = gm.user_id))",
    ),
    (
        Invariant::ArchivedGroupMember,
        "GROUP_MEMBER",
        "SELECT gm.group_id AS subject, gm.user_id AS user_id, g.organization_id AS organization_id, \
         g.name AS info FROM group_members gm JOIN groups g ON g.id = gm.group_id \
         WHERE gm.user_id IN {ids} AND g.archived_at IS NOT NULL",
    ),
    (
        Invariant::BindingOfDeletedUser,
        "ROLE_BINDING",
        "SELECT rb.id AS subject, rb.user_id AS user_id, rb.organization_id AS organization_id, \
         r.name AS info FROM role_bindings rb JOIN users u ON u.id = rb.user_id \
         JOIN roles r ON r.id = rb.role_id WHERE rb.user_id IN {ids} AND u.status = 'DELETED'",
    ),
    (
        Invariant::DanglingShare,
        "RESOURCE_SHARE",
        "SELECT rs.resource_id AS subject, rs.user_id AS user_id, r.organization_id AS organization_id, \
         CASE WHEN u.status = 'DELETED' THEN 'the user it is shared with is deleted' \
         ELSE 'the resource is deleted' END AS info \
         FROM resource_shares rs JOIN users u ON u.id = rs.user_id \
         JOIN resources r ON r.id = rs.resource_id \
         WHERE rs.user_id IN {ids} AND (u.status = 'DELETED' OR r.deleted_at IS NOT NULL)",
    ),
    (
        // Split in two by `info` (the owner's status) when read.
        Invariant::ResourceOwnedByNonMember,
        "RESOURCE",
        "SELECT r.id AS subject, r.owner_user_id AS user_id, r.organization_id AS organization_id, \
         u.status AS info FROM resources r JOIN resource_kinds k ON k.code = r.kind \
         JOIN users u ON u.id = r.owner_user_id \
         JOIN organizations o ON o.id = r.organization_id AND o.deleted_at IS NULL \
         WHERE r.owner_user_id IN {ids} AND r.deleted_at IS NULL AND k.transferable \
         AND (u.status = 'DELETED' OR NOT EXISTS (SELECT 1 FROM memberships m \
              WHERE m.organization_id = r.organization_id AND m.user_id = r.owner_user_id))",
    ),
    (
        Invariant::LiveSessionOfInactiveUser,
        "SESSION",
        "SELECT s.id AS subject, s.user_id AS user_id, s.organization_id AS organization_id, \
         u.status AS info FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.user_id IN {ids} AND s.revoked_at IS NULL AND s.expires_at > {now} \
         AND (u.status <> 'ACTIVE' OR (s.organization_id IS NOT NULL AND NOT EXISTS \
              (SELECT 1 FROM memberships m WHERE m.user_id = s.user_id \
               AND m.organization_id = s.organization_id AND m.status = 'ACTIVE')))",
    ),
    (
        Invariant::LiveApiKeyOfInactiveUser,
        "API_KEY",
        "SELECT k.id AS subject, k.user_id AS user_id, k.organization_id AS organization_id, \
         u.status AS info FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.user_id IN {ids} AND k.revoked_at IS NULL \
         AND (k.expires_at IS NULL OR k.expires_at > {now}) \
         AND (u.status = 'DELETED' OR (k.organization_id IS NOT NULL AND NOT EXISTS \
              (SELECT 1 FROM memberships m JOIN organizations o ON o.id = m.organization_id \
               AND o.deleted_at IS NULL \
               WHERE m.user_id = k.user_id AND m.organization_id = k.organization_id)))",
    ),
    (
        Invariant::CredentialsOfDeletedUser,
        "USER",
        "SELECT u.id AS subject, u.id AS user_id, NULL AS organization_id, NULL AS info \
         FROM users u WHERE u.id IN {ids} AND u.status = 'DELETED' \
         AND (u.password_hash IS NOT NULL \
              OR EXISTS (SELECT 1 FROM ssh_keys s WHERE s.user_id = u.id) \
              OR EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id) \
              OR EXISTS (SELECT 1 FROM recovery_codes c WHERE c.user_id = u.id))",
    ),
    (
        Invariant::PendingInvitationOfDeletedUser,
        "INVITATION",
        "SELECT i.id AS subject, i.user_id AS user_id, i.organization_id AS organization_id, \
         NULL AS info FROM invitations i JOIN users u ON u.id = i.user_id \
         WHERE i.user_id IN {ids} AND i.status = 'PENDING' AND u.status = 'DELETED'",
    ),
    (
        Invariant::UnheldPendingDeletion,
        "USER",
        "SELECT u.id AS subject, u.id AS user_id, NULL AS organization_id, NULL AS info \
         FROM users u WHERE u.id IN {ids} AND u.status = 'PENDING_DELETION' AND NOT EXISTS \
         (SELECT 1 FROM deletion_holds h WHERE h.user_id = u.id AND h.released_at IS NULL)",
    ),
];

/// Effective roles that differ from their recomputation, per user and organization:
/// `info` is `MISSING` (recomputed, not stored) or `EXTRA` (stored, not recomputed).
const PARITY_CHECK: &str = "SELECT x.user_id AS subject, x.user_id AS user_id, \
     x.organization_id AS organization_id, 'MISSING' AS info FROM ({recomputed} EXCEPT \
     SELECT user_id, organization_id, role_id, project_id, scope_key FROM effective_roles \
     WHERE user_id IN {ids}) x \
     UNION ALL SELECT y.user_id, y.user_id, y.organization_id, 'EXTRA' FROM \
     (SELECT user_id, organization_id, role_id, project_id, scope_key FROM effective_roles \
      WHERE user_id IN {ids} EXCEPT SELECT * FROM ({recomputed}) z) y";

const ORGANIZATION_CHECK: &str = "SELECT o.id AS subject, o.owner_user_id AS user_id, \
     o.id AS organization_id, u.status AS info FROM organizations o \
     LEFT JOIN users u ON u.id = o.owner_user_id \
     WHERE o.id IN {ids} AND o.deleted_at IS NULL AND (u.id IS NULL OR u.status <> 'ACTIVE' \
     OR NOT EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = o.id \
                    AND m.user_id = o.owner_user_id AND m.status = 'ACTIVE'))";

fn finding(
    invariant: Invariant,
    subject_type: &'static str,
    row: &CheckRow,
    detail: String,
    at: OffsetDateTime,
) -> Finding {
    Finding {
        id: None,
        invariant,
        subject_type,
        subject_id: row.subject,
        user: row.user_id.map(UserId),
        organization: row.organization_id.map(OrganizationId),
        detail,
        fix: invariant
            .fix()
            .unwrap_or_else(|| invariant.manual_fix())
            .to_owned(),
        status: FindingStatus::Open,
        note: None,
        found_at: at,
        repaired_at: None,
    }
}

fn user_detail(invariant: Invariant, info: Option<&str>) -> String {
    let info = info.unwrap_or_default();
    match invariant {
        Invariant::MembershipOfDeletedUser => {
            format!("the user is deleted but this membership is {info}")
        }
        Invariant::GroupMemberNotMember => {
            format!("in group {info:?} without a membership of its organization, or deleted")
        }
        Invariant::ArchivedGroupMember => format!("still a member of archived group {info:?}"),
        Invariant::BindingOfDeletedUser => format!("role {info:?} is bound to a deleted user"),
        Invariant::DanglingShare => info.to_owned(),
        Invariant::ResourceOwnedByDeletedUser => "the owner is deleted".to_owned(),
        Invariant::ResourceOwnedByNonMember => {
            "the owner has no membership of the resource's organization".to_owned()
        }
        Invariant::LiveSessionOfInactiveUser if info != "ACTIVE" => {
            format!("a live session of a user who is {info}")
        }
        Invariant::LiveSessionOfInactiveUser => {
            "a live session acting in an organization where the membership is not active".to_owned()
        }
        Invariant::LiveApiKeyOfInactiveUser if info == "DELETED" => {
            "an API key that works, of a deleted user".to_owned()
        }
        Invariant::LiveApiKeyOfInactiveUser => {
            "an API key that works in an organization the user is no member of (or deleted)"
                .to_owned()
        }
        Invariant::CredentialsOfDeletedUser => {
            "a deleted user still has a password, SSH keys or a second factor".to_owned()
        }
        Invariant::PendingInvitationOfDeletedUser => {
            "a pending invitation of a deleted user".to_owned()
        }
        Invariant::UnheldPendingDeletion => {
            "pending deletion with no hold left, but not purged".to_owned()
        }
        Invariant::PermissionParity | Invariant::OrganizationWithoutActiveOwner => info.to_owned(),
    }
}

impl Tx {
    async fn check_rows(
        &mut self,
        sql: &str,
        ids: &[Uuid],
        now: Timestamp,
    ) -> Result<Vec<CheckRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_tx!(self, |conn| {
            let sql = sql.replace("{recomputed}", RECOMPUTED);
            let mut query = QueryBuilder::new("");
            push_marked_sql!(query, &sql, ids, now);
            query.build_query_as::<CheckRow>().fetch_all(conn).await?
        }))
    }

    /// Every invariant checked for these users.
    pub(crate) async fn check_users(
        &mut self,
        users: &[Uuid],
        at: OffsetDateTime,
    ) -> Result<Vec<Finding>> {
        let now = Timestamp::from(at);
        let mut findings = Vec::new();
        for (invariant, subject_type, sql) in USER_CHECKS {
            for row in self.check_rows(sql, users, now).await? {
                let invariant = match (invariant, row.info.as_deref()) {
                    (Invariant::ResourceOwnedByNonMember, Some("DELETED")) => {
                        Invariant::ResourceOwnedByDeletedUser
                    }
                    (invariant, _) => *invariant,
                };
                let detail = user_detail(invariant, row.info.as_deref());
                findings.push(finding(invariant, subject_type, &row, detail, at));
            }
        }
        // Parity: one finding per user and organization, counting the rows that differ.
        let mut differences: std::collections::BTreeMap<(Uuid, Option<Uuid>), (u32, u32)> =
            std::collections::BTreeMap::new();
        let mut rows = std::collections::BTreeMap::new();
        for row in self.check_rows(PARITY_CHECK, users, now).await? {
            let key = (row.subject, row.organization_id);
            let entry = differences.entry(key).or_default();
            if row.info.as_deref() == Some("MISSING") {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
            rows.entry(key).or_insert(row);
        }
        for (key, (missing, extra)) in differences {
            let detail = format!(
                "effective roles in the organization: {missing} missing, {extra} not granted by any binding"
            );
            findings.push(finding(
                Invariant::PermissionParity,
                "USER",
                &rows[&key],
                detail,
                at,
            ));
        }
        Ok(findings)
    }

    /// Every invariant checked for these organizations.
    pub(crate) async fn check_organizations(
        &mut self,
        organizations: &[Uuid],
        at: OffsetDateTime,
    ) -> Result<Vec<Finding>> {
        let now = Timestamp::from(at);
        let rows = self
            .check_rows(ORGANIZATION_CHECK, organizations, now)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let detail = match (row.user_id, row.info.as_deref()) {
                    (None, _) => "the organization has no owner".to_owned(),
                    (Some(_), Some("ACTIVE")) => {
                        "the owner has no active membership of the organization".to_owned()
                    }
                    (Some(_), status) => {
                        format!("the owner's account is {}", status.unwrap_or("missing"))
                    }
                };
                finding(
                    Invariant::OrganizationWithoutActiveOwner,
                    "ORGANIZATION",
                    row,
                    detail,
                    at,
                )
            })
            .collect())
    }

    /// The next chunk of a phase's subjects after `after`, in id order.
    async fn next_subjects(
        &mut self,
        scope: RunScope,
        phase: Phase,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        let after = after.unwrap_or(Uuid::nil());
        let (sql, subject) = match (phase, scope) {
            (Phase::Users, RunScope::All) => (
                "SELECT id FROM users WHERE id > $1 AND $2 IS NULL ORDER BY id LIMIT $3",
                None,
            ),
            (Phase::Users, RunScope::Organization(organization)) => (
                "SELECT user_id FROM memberships WHERE user_id > $1 AND organization_id = $2 \
                 ORDER BY user_id LIMIT $3",
                Some(organization.as_uuid()),
            ),
            (Phase::Users, RunScope::User(user)) => (
                "SELECT id FROM users WHERE id > $1 AND id = $2 LIMIT $3",
                Some(user.as_uuid()),
            ),
            (Phase::Organizations, RunScope::All) => (
                "SELECT id FROM organizations WHERE id > $1 AND $2 IS NULL ORDER BY id LIMIT $3",
                None,
            ),
            (Phase::Organizations, RunScope::Organization(organization)) => (
                "SELECT id FROM organizations WHERE id > $1 AND id = $2 LIMIT $3",
                Some(organization.as_uuid()),
            ),
            (Phase::Organizations, RunScope::User(user)) => (
                "SELECT id FROM organizations WHERE id > $1 AND owner_user_id = $2 \
                 ORDER BY id LIMIT $3",
                Some(user.as_uuid()),
            ),
        };
        Ok(on_tx!(self, |conn| {
            sqlx::query_scalar(sql)
                .bind(after)
                .bind(subject)
                .bind(limit)
                .fetch_all(conn)
                .await?
        }))
    }

    async fn insert_findings(&mut self, job: JobId, findings: &[Finding]) -> Result<()> {
        // 13 parameters a finding.
        for chunk in findings.chunks(400) {
            on_tx!(&mut *self, |conn| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO consistency_findings (id, job_id, invariant, subject_type, \
                     subject_id, user_id, organization_id, detail, fix, status, note, found_at, \
                     repaired_at) ",
                );
                query.push_values(chunk, |mut values, finding| {
                    values
                        .push_bind(Uuid::now_v7())
                        .push_bind(job.as_uuid())
                        .push_bind(finding.invariant.code())
                        .push_bind(finding.subject_type)
                        .push_bind(finding.subject_id.to_string())
                        .push_bind(finding.user.map(|user| user.as_uuid()))
                        .push_bind(finding.organization.map(|id| id.as_uuid()))
                        .push_bind(&finding.detail)
                        .push_bind(&finding.fix)
                        .push_bind(finding.status.code())
                        .push_bind(finding.note.as_deref())
                        .push_bind(Timestamp::from(finding.found_at))
                        .push_bind(finding.repaired_at.map(Timestamp::from));
                });
                query.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// Counts of a run's findings per invariant: found, and repaired.
    pub(crate) async fn finding_counts(&mut self, job: JobId) -> Result<FindingCounts> {
        let rows: Vec<(String, String, i64)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "SELECT invariant, status, COUNT(*) FROM consistency_findings WHERE job_id = $1 \
                 GROUP BY invariant, status",
            )
            .bind(job.as_uuid())
            .fetch_all(conn)
            .await?
        });
        counts_of(rows)
    }

    /// How many findings of a run have each status.
    async fn status_counts(&mut self, job: JobId) -> Result<Vec<(FindingStatus, i64)>> {
        let rows: Vec<(String, i64)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "SELECT status, COUNT(*) FROM consistency_findings WHERE job_id = $1 GROUP BY status",
            )
            .bind(job.as_uuid())
            .fetch_all(conn)
            .await?
        });
        rows.into_iter()
            .map(|(status, count)| {
                FindingStatus::from_code(&status)
                    .map(|status| (status, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("finding status {status:?}")))
            })
            .collect()
    }

    /// Applies the fix of `finding` and says what it became. Each fix is conditional on the
    /// violation still being there, so applying it twice changes nothing the second time.
    async fn apply_fix(&mut self, finding: &Finding, entry: &AuditEntry) -> Result<Repair> {
        let now = Timestamp::from(entry.at);
        let subject = finding.subject_id;
        let user = finding.user.map(|user| user.as_uuid());
        let changed = |rows: u64| {
            if rows > 0 {
                Repair::Repaired
            } else {
                Repair::Gone
            }
        };
        Ok(match finding.invariant {
            Invariant::MembershipOfDeletedUser => changed(on_tx!(self, |conn| {
                sqlx::query(
                    "UPDATE memberships SET status = 'DISABLED', updated_at = $2 WHERE id = $1 \
                     AND status <> 'DISABLED' \
                     AND user_id IN (SELECT id FROM users WHERE status = 'DELETED')",
                )
                .bind(subject)
                .bind(now)
                .execute(conn)
                .await?
                .rows_affected()
            })),
            Invariant::GroupMemberNotMember | Invariant::ArchivedGroupMember => {
                let sql = if finding.invariant == Invariant::ArchivedGroupMember {
                    "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2 AND group_id IN \
                     (SELECT id FROM groups WHERE archived_at IS NOT NULL)"
                } else {
                    "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2 AND (\
                     user_id IN (SELECT id FROM users WHERE status = 'DELETED') OR NOT EXISTS \
                     (SELECT 1 FROM memberships m JOIN groups g ON g.organization_id = m.organization_id \
                      WHERE g.id = $1 AND m.user_id = $2))"
                };
                let removed = on_tx!(self, |conn| {
                    sqlx::query(sql)
                        .bind(subject)
                        .bind(user)
                        .execute(conn)
                        .await?
                        .rows_affected()
                });
                if let Some(user) = finding.user {
                    self.refresh_effective_roles(&[user]).await?;
                }
                changed(removed)
            }
            Invariant::BindingOfDeletedUser => {
                let removed = on_tx!(self, |conn| {
                    sqlx::query(
                        "DELETE FROM role_bindings WHERE id = $1 \
                         AND user_id IN (SELECT id FROM users WHERE status = 'DELETED')",
                    )
                    .bind(subject)
                    .execute(conn)
                    .await?
                    .rows_affected()
                });
                if let Some(user) = finding.user {
                    self.refresh_effective_roles(&[user]).await?;
                }
                changed(removed)
            }
            Invariant::DanglingShare => changed(on_tx!(self, |conn| {
                sqlx::query(
                    "DELETE FROM resource_shares WHERE resource_id = $1 AND user_id = $2 AND (\
                     user_id IN (SELECT id FROM users WHERE status = 'DELETED') OR resource_id IN \
                     (SELECT id FROM resources WHERE deleted_at IS NOT NULL))",
                )
                .bind(subject)
                .bind(user)
                .execute(conn)
                .await?
                .rows_affected()
            })),
            Invariant::ResourceOwnedByDeletedUser | Invariant::ResourceOwnedByNonMember => {
                self.repair_owner(finding, entry).await?
            }
            Invariant::PermissionParity => {
                let Some(user) = finding.user else {
                    return Ok(Repair::Gone);
                };
                let differing = self
                    .check_rows(PARITY_CHECK, &[user.as_uuid()], now)
                    .await?;
                self.refresh_effective_roles(&[user]).await?;
                changed(u64::try_from(differing.len()).unwrap_or(u64::MAX))
            }
            Invariant::LiveSessionOfInactiveUser => changed(on_tx!(self, |conn| {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                     AND (user_id IN (SELECT id FROM users WHERE status <> 'ACTIVE') \
                          OR (organization_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memberships m \
                              WHERE m.user_id = sessions.user_id \
                              AND m.organization_id = sessions.organization_id AND m.status = 'ACTIVE')))",
                )
                .bind(subject)
                .bind(now)
                .execute(conn)
                .await?
                .rows_affected()
            })),
            Invariant::LiveApiKeyOfInactiveUser => changed(on_tx!(self, |conn| {
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                     AND (user_id IN (SELECT id FROM users WHERE status = 'DELETED') \
                          OR (organization_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memberships m \
                              JOIN organizations o ON o.id = m.organization_id AND o.deleted_at IS NULL \
                              WHERE m.user_id = api_keys.user_id \
                              AND m.organization_id = api_keys.organization_id)))",
                )
                .bind(subject)
                .bind(now)
                .execute(conn)
                .await?
                .rows_affected()
            })),
            Invariant::CredentialsOfDeletedUser => {
                let removed = on_tx!(self, |conn| {
                    let mut removed = 0;
                    for statement in [
                        "DELETE FROM ssh_keys WHERE user_id = $1 \
                         AND user_id IN (SELECT id FROM users WHERE status = 'DELETED')",
                        "DELETE FROM recovery_codes WHERE user_id = $1 \
                         AND user_id IN (SELECT id FROM users WHERE status = 'DELETED')",
                        "DELETE FROM user_totp WHERE user_id = $1 \
                         AND user_id IN (SELECT id FROM users WHERE status = 'DELETED')",
                        "UPDATE users SET password_hash = NULL, mfa_enabled = $2 \
                         WHERE id = $1 AND status = 'DELETED' AND password_hash IS NOT NULL",
                    ] {
                        let query = sqlx::query(statement).bind(subject);
                        let query = if statement.contains("$2") {
                            query.bind(false)
                        } else {
                            query
                        };
                        removed += query.execute(&mut *conn).await?.rows_affected();
                    }
                    removed
                });
                changed(removed)
            }
            Invariant::PendingInvitationOfDeletedUser => {
                let revoked = on_tx!(self, |conn| {
                    let revoked = sqlx::query(
                        "UPDATE invitations SET status = 'REVOKED', revoked_at = $2, updated_at = $2 \
                         WHERE id = $1 AND status = 'PENDING' \
                         AND user_id IN (SELECT id FROM users WHERE status = 'DELETED')",
                    )
                    .bind(subject)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    sqlx::query(
                        "UPDATE links SET revoked_at = $2 WHERE invitation_id = $1 \
                         AND used_at IS NULL AND revoked_at IS NULL",
                    )
                    .bind(subject)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    revoked
                });
                changed(revoked)
            }
            Invariant::UnheldPendingDeletion => {
                let user = UserId(subject);
                if self.user_status(user).await?
                    != steward_domain::user::UserStatus::PendingDeletion
                {
                    Repair::Gone
                } else {
                    match self.purge_if_unheld(user, entry).await? {
                        Ok(true) => Repair::Repaired,
                        Ok(false) => Repair::Gone,
                        Err(refusals) => Repair::Refused(format!(
                            "the purge is refused: {}",
                            refusals.join("; ")
                        )),
                    }
                }
            }
            Invariant::OrganizationWithoutActiveOwner => Repair::Refused(
                Invariant::OrganizationWithoutActiveOwner
                    .manual_fix()
                    .to_owned(),
            ),
        })
    }

    /// Moves a resource whose owner is deleted or no member to the organization's owner,
    /// recorded as a transfer initiated by the run's initiator.
    async fn repair_owner(&mut self, finding: &Finding, entry: &AuditEntry) -> Result<Repair> {
        let (Some(from), Some(organization)) = (finding.user, finding.organization) else {
            return Ok(Repair::Gone);
        };
        // Still owned by that user, who is still deleted or still no member: otherwise the
        // finding is stale, and moving the resource would be wrong.
        let still: i64 = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM resources r JOIN users u ON u.id = r.owner_user_id \
                 WHERE r.id = $1 AND r.owner_user_id = $2 AND r.deleted_at IS NULL \
                 AND (u.status = 'DELETED' OR NOT EXISTS (SELECT 1 FROM memberships m \
                      WHERE m.organization_id = r.organization_id AND m.user_id = r.owner_user_id))",
            )
            .bind(finding.subject_id)
            .bind(from.as_uuid())
            .fetch_one(conn)
            .await?
        });
        if still == 0 {
            return Ok(Repair::Gone);
        }
        let owner: Option<Option<Uuid>> = on_tx!(self, |conn| {
            sqlx::query_scalar(
                "SELECT owner_user_id FROM organizations WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(organization.as_uuid())
            .fetch_optional(conn)
            .await?
        });
        let Some(Some(owner)) = owner else {
            return Ok(Repair::Refused(
                "the organization has no owner to receive the resource; give it one first"
                    .to_owned(),
            ));
        };
        match self.check_recipient(organization, UserId(owner)).await {
            Ok(()) => {}
            Err(StoreError::Domain(refusal)) => {
                return Ok(Repair::Refused(format!(
                    "the organization's owner cannot receive it ({refusal}); give the \
                     organization an active owner first"
                )));
            }
            Err(error) => return Err(error),
        }
        let reason = if finding.invariant == Invariant::ResourceOwnedByDeletedUser {
            TransferReason::UserDeleted
        } else {
            TransferReason::MembershipRemoved
        };
        let at = Timestamp::from(entry.at);
        let transfer = self
            .begin_transfer(
                organization,
                Some(from),
                UserId(owner),
                reason,
                entry.actor,
                at,
            )
            .await?;
        self.add_transfer_items(&transfer, Some(finding.subject_id))
            .await?;
        Ok(match self.finish_transfer(transfer, at).await? {
            Some(transfer) => {
                self.audit_transfer(&transfer, entry).await?;
                Repair::Repaired
            }
            None => Repair::Gone,
        })
    }
}

/// What a fix did.
enum Repair {
    Repaired,
    Gone,
    Refused(String),
}

fn counts_of(rows: Vec<(String, String, i64)>) -> Result<FindingCounts> {
    let mut counts = FindingCounts::default();
    for (invariant, status, count) in rows {
        let invariant = Invariant::from_code(&invariant)
            .ok_or_else(|| StoreError::Corrupt(format!("invariant {invariant:?}")))?;
        let count = u64::try_from(count).unwrap_or_default();
        let repaired = if FindingStatus::from_code(&status).is_some_and(FindingStatus::is_applied) {
            count
        } else {
            0
        };
        counts.add(invariant, count, repaired);
    }
    Ok(counts)
}

#[derive(sqlx::FromRow)]
struct FindingRow {
    id: Uuid,
    invariant: String,
    subject_type: String,
    subject_id: String,
    user_id: Option<Uuid>,
    organization_id: Option<Uuid>,
    detail: String,
    fix: String,
    status: String,
    note: Option<String>,
    found_at: Timestamp,
    repaired_at: Option<Timestamp>,
}

const FINDING_COLUMNS: &str = "id, invariant, subject_type, subject_id, user_id, organization_id, \
     detail, fix, status, note, found_at, repaired_at";

/// The subject types a finding may name, for reading them back as `'static` strings.
const SUBJECT_TYPES: [&str; 10] = [
    "MEMBERSHIP",
    "GROUP_MEMBER",
    "ROLE_BINDING",
    "RESOURCE_SHARE",
    "RESOURCE",
    "USER",
    "SESSION",
    "API_KEY",
    "INVITATION",
    "ORGANIZATION",
];

impl TryFrom<FindingRow> for Finding {
    type Error = StoreError;

    fn try_from(row: FindingRow) -> Result<Self> {
        let corrupt =
            |what: &str, value: &str| StoreError::Corrupt(format!("finding {what} {value:?}"));
        Ok(Finding {
            id: Some(row.id),
            invariant: Invariant::from_code(&row.invariant)
                .ok_or_else(|| corrupt("invariant", &row.invariant))?,
            subject_type: SUBJECT_TYPES
                .into_iter()
                .find(|known| *known == row.subject_type)
                .ok_or_else(|| corrupt("subject type", &row.subject_type))?,
            subject_id: Uuid::parse_str(&row.subject_id)
                .map_err(|_| corrupt("subject", &row.subject_id))?,
            user: row.user_id.map(UserId),
            organization: row.organization_id.map(OrganizationId),
            detail: row.detail,
            fix: row.fix,
            status: FindingStatus::from_code(&row.status)
                .ok_or_else(|| corrupt("status", &row.status))?,
            note: row.note,
            found_at: row.found_at.into(),
            repaired_at: row.repaired_at.map(Into::into),
        })
    }
}

impl Store {
    /// Checks one user now, storing nothing: every invariant over the user's data, and the
    /// organizations they own.
    pub async fn consistency_report(
        &self,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Vec<Finding>> {
        let mut tx = self.begin_read().await?;
        let scope = RunScope::User(user);
        let users = tx.next_subjects(scope, Phase::Users, None, 1).await?;
        if users.is_empty() {
            return Err(DomainError::NotFound { what: "the user" }.into());
        }
        let mut findings = tx.check_users(&users, at).await?;
        let owned = tx
            .next_subjects(scope, Phase::Organizations, None, i64::MAX)
            .await?;
        findings.extend(tx.check_organizations(&owned, at).await?);
        // Dropped without a commit: nothing was written.
        drop(tx);
        Ok(findings)
    }

    /// Queues a consistency run over `scope`; with `repair`, it fixes what it finds.
    pub async fn start_consistency_run(
        &self,
        scope: RunScope,
        repair: bool,
        entry: &AuditEntry,
    ) -> Result<JobRecord> {
        let id = JobId::new();
        let mut tx = self.begin().await?;
        let exists: i64 = match scope {
            RunScope::User(user) => on_tx!(&mut tx, |conn| {
                sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
                    .bind(user.as_uuid())
                    .fetch_one(conn)
                    .await?
            }),
            RunScope::Organization(organization) => on_tx!(&mut tx, |conn| {
                sqlx::query_scalar("SELECT COUNT(*) FROM organizations WHERE id = $1")
                    .bind(organization.as_uuid())
                    .fetch_one(conn)
                    .await?
            }),
            RunScope::All => 1,
        };
        if exists == 0 {
            return Err(DomainError::NotFound {
                what: if matches!(scope, RunScope::User(_)) {
                    "the user"
                } else {
                    "the organization"
                },
            }
            .into());
        }
        let parameters = json!({
            "scope": scope.code(),
            "subject": scope.subject(),
            "repair": repair,
        });
        tx.insert_job(
            id,
            JobKind::ConsistencyRun,
            None,
            entry.actor,
            &parameters,
            entry.at,
        )
        .await?;
        let total: i64 = match scope {
            RunScope::User(user) => on_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "SELECT 1 + (SELECT COUNT(*) FROM organizations WHERE owner_user_id = $1)",
                )
                .bind(user.as_uuid())
                .fetch_one(conn)
                .await?
            }),
            RunScope::Organization(organization) => on_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "SELECT 1 + (SELECT COUNT(*) FROM memberships WHERE organization_id = $1)",
                )
                .bind(organization.as_uuid())
                .fetch_one(conn)
                .await?
            }),
            RunScope::All => on_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM organizations)",
                )
                .fetch_one(conn)
                .await?
            }),
        };
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE jobs SET status = 'QUEUED', total_rows = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(total)
                .execute(conn)
                .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::ConsistencyRunStarted, AuditOutcome::Success)
                .target("job", id)
                .detail(parameters),
        )
        .await?;
        let job = tx.job(id).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Checks the next chunk of a claimed run (`limit` subjects) and stores its findings with
    /// the run's new cursor, in one transaction. A repairing run stores findings with no
    /// automatic fix as unresolved at once.
    pub async fn consistency_step(
        &self,
        claimed: &ClaimedJob,
        limit: i64,
        at: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<BatchOutcome> {
        let mut tx = self.begin().await?;
        let Some(job) = tx.leased_job(claimed).await? else {
            return Ok(BatchOutcome::LeaseLost);
        };
        if job.cancel_requested {
            return Ok(BatchOutcome::CancelRequested(job));
        }
        let (scope, repair) = run_parameters(&job)?;
        let RunCursor::At { phase, after } = RunCursor::parse(job.cursor.as_deref())? else {
            return Ok(BatchOutcome::Exhausted(job));
        };
        let subjects = tx.next_subjects(scope, phase, after, limit).await?;
        let (cursor, mut findings) = match subjects.last() {
            None => (RunCursor::after_phase(phase), Vec::new()),
            Some(last) => {
                let findings = match phase {
                    Phase::Users => tx.check_users(&subjects, at).await?,
                    Phase::Organizations => tx.check_organizations(&subjects, at).await?,
                };
                (
                    RunCursor::At {
                        phase,
                        after: Some(*last),
                    },
                    findings,
                )
            }
        };
        if repair {
            for finding in &mut findings {
                if finding.invariant.fix().is_none() {
                    finding.status = FindingStatus::Unresolved;
                    finding.note = Some(finding.invariant.manual_fix().to_owned());
                }
            }
        }
        tx.insert_findings(job.id, &findings).await?;
        let now = Timestamp::from(at);
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE jobs SET cursor = $2, processed_rows = processed_rows + $3, \
                 findings = findings + $4, lease_until = $5, updated_at = $6 WHERE id = $1",
            )
            .bind(job.id.as_uuid())
            .bind(cursor.encode())
            .bind(i64::try_from(subjects.len()).unwrap_or(i64::MAX))
            .bind(i64::try_from(findings.len()).unwrap_or(i64::MAX))
            .bind(Timestamp::from(at + lease))
            .bind(now)
            .execute(conn)
            .await?;
        });
        let job = tx.job(job.id).await?;
        tx.commit().await?;
        Ok(BatchOutcome::Advanced(job))
    }

    /// The findings of a run still waiting for their repair, oldest first.
    pub async fn open_findings(&self, job: JobId, limit: i64) -> Result<Vec<Finding>> {
        let rows: Vec<FindingRow> = on_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {FINDING_COLUMNS} FROM consistency_findings WHERE job_id = $1 \
                 AND status = 'OPEN' ORDER BY id LIMIT $2"
            )))
            .bind(job.as_uuid())
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Repairs one stored finding of a claimed run in a transaction of its own, audited as a
    /// repair by `entry`'s actor (the run's initiator). `None` when the lease was lost or
    /// another worker dealt with the finding first.
    pub async fn repair_finding(
        &self,
        claimed: &ClaimedJob,
        finding: &Finding,
        entry: &AuditEntry,
    ) -> Result<Option<FindingStatus>> {
        let id = finding.id.ok_or_else(|| {
            StoreError::Corrupt("a finding to repair has no id (it was never stored)".into())
        })?;
        let mut tx = self.begin().await?;
        if tx.leased_job(claimed).await?.is_none() {
            return Ok(None);
        }
        let repair = tx.apply_fix(finding, entry).await?;
        let (status, note) = match &repair {
            Repair::Repaired => (FindingStatus::Repaired, None),
            Repair::Gone => (FindingStatus::Gone, None),
            Repair::Refused(note) => (FindingStatus::Unresolved, Some(note.as_str())),
        };
        let now = Timestamp::from(entry.at);
        let updated = on_tx!(&mut tx, |conn| {
            sqlx::query(
                "UPDATE consistency_findings SET status = $2, note = $3, repaired_at = $4 \
                 WHERE id = $1 AND status = 'OPEN'",
            )
            .bind(id)
            .bind(status.code())
            .bind(note)
            .bind((status == FindingStatus::Repaired).then_some(now))
            .execute(conn)
            .await?
            .rows_affected()
        });
        if updated == 0 {
            return Ok(None);
        }
        if status == FindingStatus::Repaired {
            on_tx!(&mut tx, |conn| {
                sqlx::query("UPDATE jobs SET repaired = repaired + 1 WHERE id = $1")
                    .bind(claimed.job.id.as_uuid())
                    .execute(conn)
                    .await?;
            });
            let mut event = entry
                .event(AuditAction::ConsistencyRepaired, AuditOutcome::Success)
                .target("job", claimed.job.id)
                .detail(json!({
                    "invariant": finding.invariant.code(),
                    "subjectType": finding.subject_type,
                    "subject": finding.subject_id.to_string(),
                    "user": finding.user.map(|user| user.to_string()),
                    "fix": finding.fix,
                }));
            if let Some(organization) = finding.organization {
                event = event.organization(organization);
            }
            tx.audit(&event).await?;
        }
        tx.commit().await?;
        Ok(Some(status))
    }

    /// Leaves a stored finding unresolved with `note`: its fix failed in a way a retry would
    /// not mend.
    pub async fn mark_finding_unresolved(&self, finding: &Finding, note: &str) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE consistency_findings SET status = 'UNRESOLVED', note = $2 \
                 WHERE id = $1 AND status = 'OPEN'",
            )
            .bind(finding.id)
            .bind(note)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A page of a run's findings in the order found, and how many match.
    pub async fn findings_page(
        &self,
        job: JobId,
        filter: &FindingFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<Finding>, i64)> {
        macro_rules! filtered {
            ($select:expr) => {{
                let mut query = QueryBuilder::new($select);
                query.push(" WHERE job_id = ");
                query.push_bind(job.as_uuid());
                if let Some(invariant) = filter.invariant {
                    query.push(" AND invariant = ");
                    query.push_bind(invariant.code());
                }
                if let Some(status) = filter.status {
                    query.push(" AND status = ");
                    query.push_bind(status.code());
                }
                if let Some(user) = filter.user {
                    query.push(" AND user_id = ");
                    query.push_bind(user.as_uuid());
                }
                query
            }};
        }
        let (rows, total) = on_pool!(self, |pool| {
            let mut page = filtered!(format!(
                "SELECT {FINDING_COLUMNS} FROM consistency_findings"
            ));
            if let Some(after) = after {
                page.push(" AND id > ");
                page.push_bind(after);
            }
            page.push(" ORDER BY id LIMIT ");
            page.push_bind(limit);
            let rows: Vec<FindingRow> = page.build_query_as().fetch_all(pool).await?;
            let mut count = filtered!("SELECT COUNT(*) FROM consistency_findings");
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (rows, total)
        });
        let findings = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>>>()?;
        Ok((findings, total))
    }

    /// A run's counts per invariant: found and repaired.
    pub async fn finding_counts(&self, job: JobId) -> Result<FindingCounts> {
        self.begin_read().await?.finding_counts(job).await
    }

    /// How many findings of a run still stand (open or unresolved).
    /// ([`FindingStatus::is_unresolved`]).
    pub async fn unresolved_findings(&self, job: JobId) -> Result<i64> {
        let counts = self.begin_read().await?.status_counts(job).await?;
        Ok(counts
            .into_iter()
            .filter(|(status, _)| status.is_unresolved())
            .map(|(_, count)| count)
            .sum())
    }
}

/// A run's scope and whether it repairs, from its parameters.
pub fn run_parameters(job: &JobRecord) -> Result<(RunScope, bool)> {
    let corrupt = || StoreError::Corrupt(format!("consistency run {} parameters", job.id));
    let scope = job
        .parameters
        .get("scope")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(corrupt)?;
    let subject = match job.parameters.get("subject") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(corrupt)?,
        ),
    };
    let scope = RunScope::parse(scope, subject).map_err(|_| corrupt())?;
    Ok((scope, job.flag("repair")))
}
