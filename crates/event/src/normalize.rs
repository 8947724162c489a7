//! Normalisation: the category an action implies, and the canonical spelling of actor types.
//!
//! Clients name actions freely (`contract.created`, `user.login_failed`, `DELETE_USER`,
//! `zone.settings.edit`). The category is what filters, statistics and the dialects' action enums
//! rely on, so it is derived from the action's words: the last word that names a known verb wins,
//! so `user.password.reset_approved` is an approval, not an update.

use crate::model::Category;

/// Derives the category of `action` from the verbs in it; `Other` when none is known.
pub fn category_for_action(action: &str) -> Category {
    action
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .rev()
        .find_map(|word| verb_category(&word.to_ascii_lowercase()))
        .unwrap_or(Category::Other)
}

fn verb_category(word: &str) -> Option<Category> {
    let category = match word {
        "create" | "created" | "add" | "added" | "insert" | "inserted" | "new" | "register"
        | "registered" | "invite" | "invited" | "provision" | "provisioned" | "upload"
        | "uploaded" => Category::Create,
        "read" | "view" | "viewed" | "get" | "list" | "listed" | "access" | "accessed" | "open"
        | "opened" | "search" | "searched" | "query" | "queried" => Category::Read,
        "update" | "updated" | "edit" | "edited" | "modify" | "modified" | "change" | "changed"
        | "patch" | "patched" | "set" | "rename" | "renamed" | "reset" | "enable" | "enabled"
        | "disable" | "disabled" | "move" | "moved" | "assign" | "assigned" | "revoke"
        | "revoked" | "rotate" | "rotated" => Category::Update,
        "delete" | "deleted" | "remove" | "removed" | "destroy" | "destroyed" | "purge"
        | "purged" | "erase" | "erased" => Category::Delete,
        "login" | "signin" | "logon" | "authenticate" | "authenticated" => Category::Login,
        "logout" | "signout" | "logoff" => Category::Logout,
        "export" | "exported" | "download" | "downloaded" => Category::Export,
        "approve" | "approved" | "accept" | "accepted" | "grant" | "granted" => Category::Approve,
        "reject" | "rejected" | "deny" | "denied" | "decline" | "declined" => Category::Reject,
        "execute" | "executed" | "run" | "ran" | "invoke" | "invoked" | "trigger" | "triggered"
        | "deploy" | "deployed" => Category::Execute,
        _ => return None,
    };
    Some(category)
}

/// The canonical spelling of an actor type: the five known types in lowercase snake case
/// (`USER` -> `user`, `API_KEY` or `apikey` -> `api_key`); any other string unchanged.
pub fn normalize_actor_type(kind: &str) -> String {
    let folded: String = kind
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    match folded.as_str() {
        "user" => "user",
        "apikey" => "api_key",
        "system" => "system",
        "webhook" => "webhook",
        "service" => "service",
        _ => return kind.to_owned(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_from_actions() {
        let cases = [
            ("contract.created", Category::Create),
            ("user.login", Category::Login),
            ("user.login_failed", Category::Login),
            ("user.logout", Category::Logout),
            ("DELETE_USER", Category::Delete),
            ("zone.settings.edit", Category::Update),
            ("report.exported", Category::Export),
            ("loan.approved", Category::Approve),
            ("payment.rejected", Category::Reject),
            ("job.run", Category::Execute),
            ("document.viewed", Category::Read),
            ("user.password.reset_approved", Category::Approve),
            ("something.odd", Category::Other),
            ("", Category::Other),
        ];
        for (action, want) in cases {
            assert_eq!(category_for_action(action), want, "{action}");
        }
    }

    #[test]
    fn actor_types() {
        assert_eq!(normalize_actor_type("USER"), "user");
        assert_eq!(normalize_actor_type("API_KEY"), "api_key");
        assert_eq!(normalize_actor_type("api-key"), "api_key");
        assert_eq!(normalize_actor_type("Webhook"), "webhook");
        assert_eq!(normalize_actor_type("robot"), "robot");
    }
}
