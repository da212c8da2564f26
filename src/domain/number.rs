//! Phone numbers, who subscribes to them, and the grants of their use.

/// Billing cycle of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cycle {
    Month,
    Year,
}

impl Cycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Month => "month",
            Cycle::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Option<Cycle> {
        match s {
            "month" => Some(Cycle::Month),
            "year" => Some(Cycle::Year),
            _ => None,
        }
    }
}

/// Who subscribes to a number, and on what terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub owner_id: i64,
    pub cycle: Cycle,
    pub resubscribe: bool,
    pub subscribed_at: i64,
}

/// A number in quarantine after its owner unsubscribed: in nobody's pool
/// view until `until`, but its former owner may subscribe to it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quarantine {
    pub former_owner_id: i64,
    pub until: i64,
}

/// A pool number held for one account until `until`: only it may subscribe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub holder_id: i64,
    pub until: i64,
}

/// Where a number is in its life (DOMAIN.md, "The number's life").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberState {
    Available,
    Reserved,
    Subscribed,
    Quarantined,
}

impl NumberState {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberState::Available => "available",
            NumberState::Reserved => "reserved",
            NumberState::Subscribed => "subscribed",
            NumberState::Quarantined => "quarantined",
        }
    }
}

/// A phone number; `subscription` is `None` while it is in the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number {
    pub id: i64,
    pub uid: String,
    pub number: String,
    pub operator_id: Option<i64>,
    pub alias: Option<String>,
    pub is_66_char: bool,
    pub country: String,
    pub monthly_price: i64,
    pub yearly_price: i64,
    pub subscription: Option<Subscription>,
    /// Recorded while quarantined; an ended quarantine that is not swept yet
    /// is still here, and [`Number::state`] says it is over.
    pub quarantine: Option<Quarantine>,
    /// As `quarantine`, for a reservation.
    pub reservation: Option<Reservation>,
}

impl Number {
    pub fn owner_id(&self) -> Option<i64> {
        self.subscription.as_ref().map(|s| s.owner_id)
    }

    /// The quarantine still running at `now`.
    pub fn quarantine_at(&self, now: i64) -> Option<Quarantine> {
        self.quarantine.filter(|q| q.until > now)
    }

    /// The reservation still running at `now`.
    pub fn reservation_at(&self, now: i64) -> Option<Reservation> {
        self.reservation.filter(|r| r.until > now)
    }

    /// The state at `now`: an end that has passed is over from its instant,
    /// whether or not the sweeper has been by.
    pub fn state(&self, now: i64) -> NumberState {
        if self.subscription.is_some() {
            NumberState::Subscribed
        } else if self.quarantine_at(now).is_some() {
            NumberState::Quarantined
        } else if self.reservation_at(now).is_some() {
            NumberState::Reserved
        } else {
            NumberState::Available
        }
    }
}

/// A number to add to the pool.
#[derive(Clone, Debug)]
pub struct NewNumber {
    pub id: Option<i64>,
    pub uid: String,
    pub number: String,
    pub operator_id: Option<i64>,
    pub alias: Option<String>,
    pub is_66_char: bool,
    pub country: String,
    pub monthly_price: i64,
    pub yearly_price: i64,
}

/// The use of a number given to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub number_id: i64,
    pub account_id: i64,
    pub granted_by: i64,
    pub send: bool,
    pub gets: bool,
    pub created_at: i64,
    /// When the grant ends (`None`: with its granter's holding).
    pub expires_at: Option<i64>,
}

impl Grant {
    /// Whether the grant still confers anything at `now`.
    pub fn live_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
}
