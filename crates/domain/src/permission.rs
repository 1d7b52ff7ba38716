//! The permission model: areas × levels, and the built-in roles.
//!
//! A permission is `(area, level)`. `MANAGE` implies `VIEW`; `RUN` (executing flows and
//! schedules, calling APIs) is granted on its own. The built-in roles are present in every
//! organization, read-only, with exactly the powers SPEC.md §5 gives them.

use std::collections::BTreeSet;
use std::fmt;

use crate::DomainError;

/// What a permission is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// Users and memberships of the organization.
    Users,
    /// Roles and role bindings.
    Roles,
    Groups,
    /// Resources owned by users (datasets, dashboards, ...).
    Resources,
    ApiKeys,
    /// The audit trail.
    Audit,
    /// The organization's settings: name, e-mail domains, projects, owner.
    Organization,
    /// Flows and schedules, which can be run.
    Flows,
    /// Usage statistics.
    Statistics,
    /// The platform's user-defined APIs, called with API keys.
    Apis,
}

impl Area {
    pub const ALL: [Area; 10] = [
        Area::Users,
        Area::Roles,
        Area::Groups,
        Area::Resources,
        Area::ApiKeys,
        Area::Audit,
        Area::Organization,
        Area::Flows,
        Area::Statistics,
        Area::Apis,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Area::Users => "USERS",
            Area::Roles => "ROLES",
            Area::Groups => "GROUPS",
            Area::Resources => "RESOURCES",
            Area::ApiKeys => "API_KEYS",
            Area::Audit => "AUDIT",
            Area::Organization => "ORGANIZATION",
            Area::Flows => "FLOWS",
            Area::Statistics => "STATISTICS",
            Area::Apis => "APIS",
        }
    }

    pub fn from_code(code: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|area| area.code() == code)
    }
}

/// How much of an area a permission allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    View,
    Run,
    Manage,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::View, Level::Run, Level::Manage];

    pub fn code(self) -> &'static str {
        match self {
            Level::View => "VIEW",
            Level::Run => "RUN",
            Level::Manage => "MANAGE",
        }
    }

    pub fn from_code(code: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.code() == code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub area: Area,
    pub level: Level,
}

impl Permission {
    pub const fn new(area: Area, level: Level) -> Self {
        Self { area, level }
    }

    /// Whether holding `self` allows `wanted`: the same permission, or `MANAGE` for `VIEW`.
    pub fn implies(self, wanted: Permission) -> bool {
        self.area == wanted.area
            && (self.level == wanted.level
                || (self.level == Level::Manage && wanted.level == Level::View))
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.area.code(), self.level.code())
    }
}

/// A set of permissions, as a role carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    pub fn allows(&self, wanted: Permission) -> bool {
        self.0.iter().any(|held| held.implies(wanted))
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0.insert(permission);
    }

    /// Parses `AREA/LEVEL` codes, as custom roles are defined.
    pub fn parse(codes: &[(String, String)]) -> Result<Self, DomainError> {
        let mut set = PermissionSet::default();
        for (area, level) in codes {
            let area = Area::from_code(area).ok_or_else(|| {
                DomainError::invalid("permissions", format!("unknown area {area:?}"))
            })?;
            let level = Level::from_code(level).ok_or_else(|| {
                DomainError::invalid(
                    "permissions",
                    format!("unknown level {level:?}; use VIEW, RUN or MANAGE"),
                )
            })?;
            set.insert(Permission::new(area, level));
        }
        Ok(set)
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// The roles every organization has, read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltInRole {
    /// Everything in the organization, including managing users and roles.
    Administrator,
    /// As Administrator, but cannot manage users or roles.
    Editor,
    /// Views and runs flows and schedules, views statistics.
    Operator,
    /// Views everything, changes nothing.
    Viewer,
    /// Only calls the platform's user-defined APIs with its key; sees nothing else.
    ApiUser,
}

impl BuiltInRole {
    pub const ALL: [BuiltInRole; 5] = [
        BuiltInRole::Administrator,
        BuiltInRole::Editor,
        BuiltInRole::Operator,
        BuiltInRole::Viewer,
        BuiltInRole::ApiUser,
    ];

    /// The role's name, unique in its organization.
    pub fn name(self) -> &'static str {
        match self {
            BuiltInRole::Administrator => "Administrator",
            BuiltInRole::Editor => "Editor",
            BuiltInRole::Operator => "Operator",
            BuiltInRole::Viewer => "Viewer",
            BuiltInRole::ApiUser => "API User",
        }
    }

    pub fn from_name(name: &str) -> Option<BuiltInRole> {
        BuiltInRole::ALL
            .into_iter()
            .find(|role| role.name().eq_ignore_ascii_case(name.trim()))
    }

    pub fn description(self) -> &'static str {
        match self {
            BuiltInRole::Administrator => {
                "Everything in the organization, including managing users and roles."
            }
            BuiltInRole::Editor => {
                "Everything an Administrator can do except managing users and roles."
            }
            BuiltInRole::Operator => "Views and runs flows and schedules, views statistics.",
            BuiltInRole::Viewer => "Views everything in the organization, changes nothing.",
            BuiltInRole::ApiUser => {
                "Calls the platform's user-defined APIs with an API key; sees nothing else."
            }
        }
    }

    pub fn permissions(self) -> PermissionSet {
        use Area::*;
        use Level::*;
        let every = |levels: &'static [Level]| {
            Area::ALL.into_iter().flat_map(move |area| {
                levels
                    .iter()
                    .map(move |level| Permission::new(area, *level))
            })
        };
        match self {
            BuiltInRole::Administrator => every(&[View, Run, Manage]).collect(),
            BuiltInRole::Editor => every(&[View, Run, Manage])
                .filter(|p| !matches!((p.area, p.level), (Users | Roles, Manage)))
                .collect(),
            BuiltInRole::Operator => [
                Permission::new(Flows, View),
                Permission::new(Flows, Run),
                Permission::new(Statistics, View),
            ]
            .into_iter()
            .collect(),
            BuiltInRole::Viewer => every(&[View]).collect(),
            BuiltInRole::ApiUser => [Permission::new(Apis, Run)].into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS_MANAGE: Permission = Permission::new(Area::Users, Level::Manage);
    const USERS_VIEW: Permission = Permission::new(Area::Users, Level::View);

    #[test]
    fn manage_implies_view_but_not_run() {
        let set: PermissionSet = [Permission::new(Area::Flows, Level::Manage)]
            .into_iter()
            .collect();
        assert!(set.allows(Permission::new(Area::Flows, Level::View)));
        assert!(!set.allows(Permission::new(Area::Flows, Level::Run)));
        assert!(!set.allows(Permission::new(Area::Users, Level::View)));
    }

    #[test]
    fn an_administrator_can_do_everything_in_the_organization() {
        let admin = BuiltInRole::Administrator.permissions();
        for area in Area::ALL {
            for level in Level::ALL {
                assert!(
                    admin.allows(Permission::new(area, level)),
                    "{area:?} {level:?}"
                );
            }
        }
    }

    #[test]
    fn an_editor_cannot_manage_users_or_roles_but_sees_them() {
        let editor = BuiltInRole::Editor.permissions();
        assert!(!editor.allows(USERS_MANAGE));
        assert!(!editor.allows(Permission::new(Area::Roles, Level::Manage)));
        assert!(editor.allows(USERS_VIEW));
        assert!(editor.allows(Permission::new(Area::Groups, Level::Manage)));
        assert!(editor.allows(Permission::new(Area::Resources, Level::Manage)));
    }

    #[test]
    fn an_operator_views_and_runs_flows_and_views_statistics_only() {
        let operator = BuiltInRole::Operator.permissions();
        assert!(operator.allows(Permission::new(Area::Flows, Level::Run)));
        assert!(operator.allows(Permission::new(Area::Statistics, Level::View)));
        assert!(!operator.allows(Permission::new(Area::Flows, Level::Manage)));
        assert!(!operator.allows(USERS_VIEW));
    }

    #[test]
    fn a_viewer_views_everything_and_changes_nothing() {
        let viewer = BuiltInRole::Viewer.permissions();
        for area in Area::ALL {
            assert!(
                viewer.allows(Permission::new(area, Level::View)),
                "{area:?}"
            );
            assert!(
                !viewer.allows(Permission::new(area, Level::Manage)),
                "{area:?}"
            );
            assert!(
                !viewer.allows(Permission::new(area, Level::Run)),
                "{area:?}"
            );
        }
    }

    #[test]
    fn an_api_user_only_calls_apis() {
        let api_user = BuiltInRole::ApiUser.permissions();
        assert_eq!(api_user.len(), 1);
        assert!(api_user.allows(Permission::new(Area::Apis, Level::Run)));
        assert!(!api_user.allows(USERS_VIEW));
    }

    #[test]
    fn codes_round_trip_and_bad_codes_name_the_field() {
        for area in Area::ALL {
            assert_eq!(Area::from_code(area.code()), Some(area));
        }
        let error = PermissionSet::parse(&[("USERS".into(), "OWN".into())]).expect_err("bad level");
        assert_eq!(error.field(), Some("permissions"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::any_text;

        fn permission() -> impl Strategy<Value = Permission> {
            (
                proptest::sample::select(&Area::ALL[..]),
                proptest::sample::select(&Level::ALL[..]),
            )
                .prop_map(|(area, level)| Permission::new(area, level))
        }

        fn codes(permissions: &[Permission]) -> Vec<(String, String)> {
            permissions
                .iter()
                .map(|p| (p.area.code().to_owned(), p.level.code().to_owned()))
                .collect()
        }

        proptest! {
            // The codes of any permissions parse to exactly those permissions.
            #[test]
            fn the_codes_of_permissions_parse_to_them(
                permissions in proptest::collection::vec(permission(), 0..12),
            ) {
                let set = PermissionSet::parse(&codes(&permissions))?;
                prop_assert_eq!(set, permissions.into_iter().collect::<PermissionSet>());
            }

            // A pair of codes is accepted only when both are codes exactly as written (upper
            // case); otherwise the refusal names the permissions field.
            #[test]
            fn only_exact_codes_are_permissions(
                area in prop_oneof!["[A-Z_]{3,12}", "(users|Roles|API_KEYS|APIS)", any_text()],
                level in prop_oneof!["(VIEW|RUN|MANAGE|view|Run|ADMIN)", any_text()],
            ) {
                let known = Area::ALL.iter().any(|a| a.code() == area)
                    && Level::ALL.iter().any(|l| l.code() == level);
                match PermissionSet::parse(&[(area.clone(), level.clone())]) {
                    Ok(set) => {
                        prop_assert!(known, "{area:?}/{level:?} was accepted");
                        let shown: Vec<String> = set.iter().map(|p| p.to_string()).collect();
                        prop_assert_eq!(shown, vec![format!("{area}/{level}")]);
                    }
                    Err(error) => {
                        prop_assert!(!known, "{area:?}/{level:?}: {error}");
                        prop_assert_eq!(error.field(), Some("permissions"));
                    }
                }
            }
        }
    }
}
