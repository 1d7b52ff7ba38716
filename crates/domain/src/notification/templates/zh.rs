//! Simplified Chinese. Latin values (names, dates) are set off by spaces, as is customary.

use super::Paragraph::{Text, With, Without};
use super::{Layout, Template, Translations};

pub(super) const LAYOUT: Layout = Layout {
    colon: "：",
    link_hint: "如果按钮无法使用，请将以下链接复制到浏览器中打开：",
    footer: "此邮件由 {product} 自动发送：{public_url}",
};

pub(super) const TEMPLATES: Translations = &[
    (
        "INVITATION",
        Template {
            subject: "邀请您加入 {product} 上的组织 {organization}",
            body: &[
                Text("{inviter} 邀请您加入 {product} 上的组织 {organization}。"),
                Text(
                    "如需接受邀请，请打开下方链接并为您的新账户设置密码。该邀请在 {expires} 之前有效。",
                ),
                Text("如果您并未预期收到此邀请，可以忽略这封邮件。"),
            ],
            action: Some("接受邀请"),
        },
    ),
    (
        "ACCESS_GRANTED",
        Template {
            subject: "您已获得 {product} 上组织 {organization} 的访问权限",
            body: &[
                Text("{granted_by} 已授予您访问 {product} 上组织 {organization} 的权限。"),
                Text("点击下方链接即可一键接受。该链接在 {expires} 之前有效。"),
                Text("如果您对此并不知情，可以忽略这封邮件。"),
            ],
            action: Some("接受访问权限"),
        },
    ),
    (
        "EMAIL_VALIDATION",
        Template {
            subject: "请验证您在 {product} 的电子邮件地址",
            body: &[
                Text("请确认此电子邮件地址属于您本人，以完成 {product} 账户的设置。"),
                Text("该链接在 {expires} 之前有效。"),
                Text("如果您没有创建过账户，可以忽略这封邮件。"),
            ],
            action: Some("验证电子邮件地址"),
        },
    ),
    (
        "PASSWORD_RESET",
        Template {
            subject: "重置您的 {product} 密码",
            body: &[
                Text(
                    "我们收到了重置您 {product} 账户密码的请求。请通过下方链接设置新密码。该链接在 {expires} 之前有效。",
                ),
                Text("如果这不是您本人发起的请求，可以忽略这封邮件，您的密码将保持不变。"),
            ],
            action: Some("设置新密码"),
        },
    ),
    (
        "PASSWORD_CHANGED",
        Template {
            subject: "您的 {product} 密码已更改",
            body: &[
                Text("您的 {product} 账户密码已于 {changed} 更改。"),
                Text(
                    "如果这是您本人的操作，则无需进行任何处理。如果不是，请立即检查您的安全设置并联系管理员。",
                ),
            ],
            action: Some("检查安全设置"),
        },
    ),
    (
        "SUSPENDED",
        Template {
            subject: "您的 {product} 账户已被停用",
            body: &[
                Text("您的 {product} 账户已被管理员停用，您将无法再登录。"),
                With("reason", "停用原因：{reason}"),
                Text("如果您认为这是误操作，请联系管理员。"),
            ],
            action: None,
        },
    ),
    (
        "REACTIVATED",
        Template {
            subject: "您的 {product} 账户已重新启用",
            body: &[Text("您的 {product} 账户已重新启用，您可以再次登录。")],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_DISABLED",
        Template {
            subject: "您在 {product} 上对 {organization} 的访问已被禁用",
            body: &[
                Text(
                    "{organization} 的管理员已禁用您在 {product} 上对该组织的访问。您的其他组织不受影响。",
                ),
                Text("如果您认为这是误操作，请联系 {organization} 的管理员。"),
            ],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_REMOVED",
        Template {
            subject: "您已被移出 {product} 上的 {organization}",
            body: &[
                Text(
                    "{organization} 的管理员已将您移出 {product} 上的该组织。您在该组织中拥有的资源现已归另一位成员所有。您的帐户和其他组织不受影响。",
                ),
                Text("如果您认为这是误操作，请联系 {organization} 的管理员。"),
            ],
            action: None,
        },
    ),
    (
        "MEMBERSHIP_ENABLED",
        Template {
            subject: "您在 {product} 上对 {organization} 的访问已恢复",
            body: &[Text(
                "{organization} 的管理员已恢复您在 {product} 上对该组织的访问。",
            )],
            action: Some("打开 {product}"),
        },
    ),
    (
        "ACCOUNT_DELETED",
        Template {
            subject: "您的 {product} 账户已被删除",
            body: &[
                Text("您的 {product} 账户已被删除，您将无法再登录。"),
                Text("如果您认为这是误操作，请联系管理员。"),
            ],
            action: None,
        },
    ),
    (
        "DELETION_COMPLETED",
        Template {
            subject: "{product} 账户 {username} 已删除",
            body: &[
                Text("已按您的要求删除 {product} 账户 {username}。"),
                Text("转移给新所有者的资源数量：{count}。"),
            ],
            action: None,
        },
    ),
    (
        "DELETED_USERS_RESOURCES_RECEIVED",
        Template {
            subject: "您已收到 {product} 上已删除账户 {username} 的资源",
            body: &[
                Text("{product} 账户 {username} 已被删除，其部分资源已转移给您。"),
                Text("转移给您的资源数量：{count}。"),
            ],
            action: None,
        },
    ),
    (
        "RESOURCES_TRANSFERRED",
        Template {
            subject: "{from} 的资源已在 {product} 上转移给您",
            body: &[
                Text("{by} 已在 {product} 上将 {from} 的资源转移给您。"),
                Text("转移的资源数量：{count}。"),
            ],
            action: None,
        },
    ),
    (
        "BULK_IMPORT_FINISHED",
        Template {
            subject: "您在 {product} 上的用户批量导入已完成",
            body: &[
                Text("您在 {product} 上发起的用户批量导入已完成。"),
                Text("已创建用户：{created}；已跳过：{skipped}；失败：{failed}。"),
                Text("跳过和失败条目的详细信息请查看导入页面。"),
            ],
            action: Some("查看导入结果"),
        },
    ),
    (
        "REPORT_READY",
        Template {
            subject: "您在 {product} 上的报告 {report} 已生成",
            body: &[
                Text("您在 {product} 上申请的报告 {report} 已生成。"),
                Text("各项检查的问题（发现 / 已修复）：{summary}"),
            ],
            action: Some("查看报告"),
        },
    ),
    (
        "NEW_API_KEY",
        Template {
            subject: "您的 {product} 账户已创建新的 API 密钥",
            body: &[
                Text("已为您的 {product} 账户创建名为 {name} 的新 API 密钥。"),
                With("expires", "该密钥将于 {expires} 过期。"),
                Without("expires", "该密钥永不过期。"),
                Text("如果该密钥不是您创建的，请立即在安全设置中将其撤销。"),
            ],
            action: Some("打开安全设置"),
        },
    ),
    (
        "MFA_DISABLED",
        Template {
            subject: "您的 {product} 账户已关闭双重身份验证",
            body: &[
                Text("{by} 已关闭您 {product} 账户的双重身份验证。"),
                Text(
                    "您的账户现在仅受密码保护。如果您对此并不知情，请重新启用双重身份验证并联系管理员。",
                ),
            ],
            action: Some("打开安全设置"),
        },
    ),
    (
        "ORGANIZATION_DELETED",
        Template {
            subject: "{product} 上的组织 {organization} 已被删除",
            body: &[
                Text(
                    "{organization} 的所有者已在 {product} 上删除该组织。您对 {organization} 的访问已结束，其资源已被标记为已删除。",
                ),
                Text("您的 {product} 账户和您的其他组织不受影响。"),
            ],
            action: None,
        },
    ),
];
