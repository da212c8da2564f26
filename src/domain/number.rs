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
}

impl Number {
    pub fn owner_id(&self) -> Option<i64> {
        self.subscription.as_ref().map(|s| s.owner_id)
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
}
