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
    /// A grant would last longer than the granter's own holding.
    #[error("cannot grant beyond the end of your own grant")]
    ExpiryExceeded,
    /// An end that is not in the future.
    #[error("the end of a grant must be in the future")]
    InvalidExpiry,
    /// The caller holds the number and sees the grant, but neither made it
    /// nor is above the account that did.
    #[error("only the granter or an account above it may change a grant")]
    NotGranter,
    /// The caller holds this reservation already (extend it instead).
    #[error("the number is already reserved by you")]
    AlreadyReserved,
    /// The caller holds no running reservation of this number.
    #[error("no reservation of this number is held")]
    NotReserved,
    /// A reservation's length is not between 1 second and the maximum.
    #[error("a reservation lasts from 1 second to {max_secs} seconds")]
    InvalidDuration { max_secs: i64 },
    /// The caller holds as many reservations as an account may.
    #[error("an account may hold at most {cap} reservations")]
    ReservationLimit { cap: i64 },
    /// A bulk request with more items than allowed.
    #[error("a bulk request takes at most {max} items")]
    TooManyItems { max: usize },
    /// In an atomic bulk request, an item that was not tried because an
    /// earlier one failed (and nothing was written).
    #[error("not attempted: an earlier item failed")]
    NotAttempted,
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
