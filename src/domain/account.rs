//! Accounts, the tree they form, and who may act on whom.

/// An account. Accounts form one tree; `path` lists the ids from the root down
/// to this account (`/1/5/23/`), which makes "is T below R" a prefix test and
/// a downline listing an index range, on any backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub is_reseller: bool,
    pub suspended: bool,
    pub parent_id: Option<i64>,
    pub path: String,
    pub postpaid: bool,
    pub created_at: i64,
}

impl Account {
    /// Roots of the tree are the platform's administrators.
    pub fn is_admin(&self) -> bool {
        self.parent_id.is_none()
    }

    /// Resellers and administrators may assign, unassign and create accounts.
    pub fn can_manage(&self) -> bool {
        self.is_admin() || self.is_reseller
    }

    /// Whether `other` is in this account's downline (strictly below it).
    pub fn is_above(&self, other: &Account) -> bool {
        other.id != self.id && other.path.starts_with(&self.path)
    }
}

/// An account to create. `id` is normally chosen by the database; the demo
/// world pins it so that the seed's example ids work as printed.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub id: Option<i64>,
    pub username: String,
    pub name: String,
    pub password_hash: String,
    pub is_reseller: bool,
    pub parent: Option<(i64, String)>,
    pub postpaid: bool,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::Account;

    fn account(id: i64, parent_id: Option<i64>, path: &str, is_reseller: bool) -> Account {
        Account {
            id,
            username: format!("u{id}"),
            name: String::new(),
            is_reseller,
            suspended: false,
            parent_id,
            path: path.to_owned(),
            postpaid: false,
            created_at: 0,
        }
    }

    #[test]
    fn above_means_strictly_below_in_the_tree() {
        let root = account(1, None, "/1/", false);
        let reseller = account(5, Some(1), "/1/5/", true);
        let user = account(23, Some(5), "/1/5/23/", false);
        // `/1/50/` shares the text prefix `/1/5` but not the path `/1/5/`.
        let cousin = account(50, Some(1), "/1/50/", false);
        assert!(root.is_above(&reseller) && root.is_above(&user) && reseller.is_above(&user));
        assert!(!reseller.is_above(&cousin) && !user.is_above(&reseller));
        assert!(!reseller.is_above(&reseller));
    }

    #[test]
    fn roots_and_resellers_manage() {
        assert!(account(1, None, "/1/", false).is_admin());
        assert!(account(1, None, "/1/", false).can_manage());
        assert!(account(5, Some(1), "/1/5/", true).can_manage());
        assert!(!account(23, Some(5), "/1/5/23/", false).can_manage());
    }
}
