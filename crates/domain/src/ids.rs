//! Newtype identifiers, so a user id can never be passed where an organization id is meant.

use std::fmt;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new identifier. Version 7 UUIDs sort by creation time, which keeps index
            /// pages warm and gives keyset pagination a natural order.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A person's global identity.
    UserId
);
id_type!(
    /// A tenant.
    OrganizationId
);
id_type!(
    /// A user's membership of one organization.
    MembershipId
);
id_type!(
    /// A built-in or custom role of an organization.
    RoleId
);
id_type!(
    /// A key that signs access tokens.
    SigningKeyId
);
id_type!(
    /// One append-only audit record.
    AuditEventId
);
id_type!(
    /// A login session; access tokens name it, so revoking it takes effect at once.
    SessionId
);
id_type!(
    /// A project inside an organization.
    ProjectId
);
id_type!(
    /// A named set of users inside an organization.
    GroupId
);
id_type!(
    /// A role given to a user or group at organization or project scope.
    RoleBindingId
);
id_type!(
    /// One message in the notification outbox.
    NotificationId
);

id_type!(
    /// An invitation of a user into an organization.
    InvitationId
);

id_type!(
    /// An SSH public key registered to a user's account.
    SshKeyId
);

id_type!(
    /// An API key of a user.
    ApiKeyId
);

id_type!(
    /// A background job (a bulk user import, a report, a repair run).
    JobId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_sort_by_creation_time() {
        let first = UserId::new();
        let second = UserId::new();
        assert!(first < second);
    }
}
