use crate::store::StoreError;

/// Which half of a "this or that" reference was wrong: the numeric id
/// (`number_id`, `target_user_id`) or the natural key (`number`, `target_user`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefPart {
    Id,
    Natural,
}

/// Every way the core says no. Faces map these to their own statuses and
/// messages; the core never speaks wire formats.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The caller may not do this at all (a plain user assigning, say).
    #[error("forbidden")]
    Forbidden,
    /// The number and/or account named does not exist *for this caller*;
    /// whether it exists elsewhere is never told.
    #[error("not visible: number {number:?}, account {account:?}")]
    NotVisible {
        number: Option<RefPart>,
        account: Option<RefPart>,
    },
    #[error("number not assigned to user")]
    NotAssigned,
    #[error("number already assigned to user")]
    AlreadyAssigned,
    #[error("cannot grant a permission you do not hold")]
    PermissionExceeded,
    /// A virtual number that is unknown or not the caller's.
    #[error("virtual number not found")]
    NumberNotFound,
    #[error("virtual number is not available")]
    NotAvailable,
    #[error("postpaid billing is not enabled for this account")]
    PostpaidDisabled,
    #[error("invalid product for the selected recurring time")]
    InvalidProduct,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("{0} is already taken")]
    Taken(&'static str),
    /// An administrator's command named something wrong (CLI only).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a credential was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, unknown, revoked, or of a suspended account.
    #[error("invalid token")]
    Invalid,
    /// A session token past its 10 hours.
    #[error("token expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}
