//! Every text the panel face sends, in Persian (the default) and English.
//!
//! The validation messages follow the Laravel convention the seeds show: the
//! attribute is the field name with `_` replaced by a space. The operations'
//! own refusals stay in English in both languages, as the seeds keep them.

use axum::http::HeaderMap;

/// The language of a response, from `Accept-Language`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Fa,
    En,
}

impl Lang {
    /// English when the first supported entry of `Accept-Language` (in the
    /// order listed, ignoring entries with `q=0`) is `en` or `en-*`; Persian
    /// otherwise, as the seeds show.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(value) = headers.get("accept-language").and_then(|v| v.to_str().ok()) else {
            return Lang::Fa;
        };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            if refused {
                continue;
            }
            let primary = tag.split('-').next().unwrap_or("");
            match primary {
                "en" => return Lang::En,
                "fa" => return Lang::Fa,
                _ => {}
            }
        }
        Lang::Fa
    }

    fn pick(self, fa: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Fa => fa,
            Lang::En => en,
        }
    }

    pub fn done(self) -> &'static str {
        self.pick("انجام شد", "Done")
    }

    pub fn unauthenticated(self) -> &'static str {
        self.pick(
            "اطلاعات وارد شده صحیح نمی باشد",
            "The information entered is not correct",
        )
    }

    pub fn forbidden(self) -> &'static str {
        self.pick(
            "شما به این بخش دسترسی ندارید",
            "You do not have access to this section",
        )
    }

    pub fn bad_body(self) -> &'static str {
        self.pick(
            "بدنه درخواست معتبر نیست",
            "The request body is not valid JSON",
        )
    }

    pub fn too_large(self) -> &'static str {
        self.pick(
            "حجم درخواست بیش از حد مجاز است",
            "The request body is too large",
        )
    }

    pub fn too_many(self) -> &'static str {
        self.pick("تعداد درخواست ها بیش از حد مجاز است", "Too many requests")
    }

    pub fn route_not_found(self) -> &'static str {
        self.pick(
            "مسیر مورد نظر یافت نشد",
            "The requested route was not found",
        )
    }

    pub fn method_not_allowed(self) -> &'static str {
        self.pick("متد درخواست مجاز نیست", "The request method is not allowed")
    }

    /// The spec has no row for a timeout; these follow the table's style.
    pub fn request_timeout(self) -> &'static str {
        self.pick(
            "زمان ارسال درخواست به پایان رسید",
            "The request took too long to arrive",
        )
    }

    pub fn unavailable(self) -> &'static str {
        self.pick(
            "سرویس موقتا در دسترس نیست",
            "The service is temporarily unavailable",
        )
    }

    pub fn internal(self) -> &'static str {
        self.pick("خطای داخلی سرور", "Internal server error")
    }

    pub fn request_invalid(self) -> &'static str {
        self.pick("درخواست معتبر نیست", "The request is not valid")
    }

    pub fn wrong_credentials(self) -> &'static str {
        self.pick(
            "نام کاربری یا رمز عبور اشتباه است",
            "The username or password is incorrect",
        )
    }

    /// The summary of a 422: the first message, then how many more follow.
    pub fn summary(self, first: &str, more: usize) -> String {
        match (self, more) {
            (_, 0) => first.to_owned(),
            (Lang::Fa, n) => format!("{first} (و {n} خطای دیگر)"),
            (Lang::En, 1) => format!("{first} (and 1 more error)"),
            (Lang::En, n) => format!("{first} (and {n} more errors)"),
        }
    }

    /// The message of one validation rule for one field.
    pub fn rule(self, rule: Rule, field: &str) -> String {
        let a = field.replace('_', " ");
        match (self, rule) {
            (Lang::Fa, Rule::Required) => format!("تکمیل گزینه {a} الزامی است"),
            (Lang::En, Rule::Required) => format!("The {a} field is required."),
            (Lang::Fa, Rule::Integer) => format!("گزینه {a} باید از نوع عددی باشد"),
            (Lang::En, Rule::Integer) => format!("The {a} must be an integer."),
            (Lang::Fa, Rule::Boolean) => format!("گزینه {a} تنها می تواند صحیح یا غلط باشد"),
            (Lang::En, Rule::Boolean) => format!("The {a} field must be true or false."),
            (Lang::Fa, Rule::String) => format!("گزینه {a} باید تنها شامل حروف باشد"),
            (Lang::En, Rule::String) => format!("The {a} must be a string."),
            (Lang::Fa, Rule::Format) => format!("فرمت گزینه {a} صحیح نمی باشد"),
            (Lang::En, Rule::Format) => format!("The {a} format is invalid."),
            (Lang::Fa, Rule::Exists) => format!("گزینه انتخاب شده {a} صحیح نمی باشد"),
            (Lang::En, Rule::Exists) => format!("The selected {a} is invalid."),
            (Lang::Fa, Rule::MinLength(n)) => format!("گزینه {a} باید حداقل {n} کاراکتر باشد"),
            (Lang::En, Rule::MinLength(n)) => format!("The {a} must be at least {n} characters."),
            (Lang::Fa, Rule::MaxLength(n)) => format!("گزینه {a} نباید بزرگتر از {n} کاراکتر باشد"),
            (Lang::En, Rule::MaxLength(n)) => {
                format!("The {a} must not be greater than {n} characters.")
            }
            // Numeric bounds (paging): the spec's table gives only the length
            // forms; these are Laravel's numeric forms of the same rules.
            (Lang::Fa, Rule::Min(n)) => format!("گزینه {a} باید حداقل {n} باشد"),
            (Lang::En, Rule::Min(n)) => format!("The {a} must be at least {n}."),
            (Lang::Fa, Rule::Max(n)) => format!("گزینه {a} نباید بزرگتر از {n} باشد"),
            (Lang::En, Rule::Max(n)) => format!("The {a} must not be greater than {n}."),
            (Lang::Fa, Rule::Unique) => format!("این {a} قبلاً ثبت شده است"),
            (Lang::En, Rule::Unique) => format!("The {a} has already been taken."),
            // Laravel's `Password` rule, one message per missing class.
            (Lang::Fa, Rule::PasswordMixedCase) => {
                format!("گزینه {a} باید حداقل شامل یک حرف بزرگ و یک حرف کوچک باشد")
            }
            (Lang::En, Rule::PasswordMixedCase) => {
                format!("The {a} must contain at least one uppercase and one lowercase letter.")
            }
            (Lang::Fa, Rule::PasswordSymbols) => format!("گزینه {a} باید حداقل شامل یک نماد باشد"),
            (Lang::En, Rule::PasswordSymbols) => {
                format!("The {a} must contain at least one symbol.")
            }
            (Lang::Fa, Rule::PasswordNumbers) => format!("گزینه {a} باید حداقل شامل یک عدد باشد"),
            (Lang::En, Rule::PasswordNumbers) => {
                format!("The {a} must contain at least one number.")
            }
        }
    }
}

/// A validation rule that a field can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Required,
    Integer,
    Boolean,
    String,
    Format,
    Exists,
    MinLength(usize),
    MaxLength(usize),
    Min(i64),
    Max(i64),
    Unique,
    /// A new password lacks an upper-case or a lower-case letter.
    PasswordMixedCase,
    /// A new password lacks a symbol (a character neither letter nor digit).
    PasswordSymbols,
    /// A new password lacks a digit.
    PasswordNumbers,
}

/// The operations' own refusals (kept in English in both languages).
pub const NOT_ASSIGNED: &str = "number not assigned to user";
pub const ALREADY_ASSIGNED: &str = "number already assigned to user";
pub const PERMISSION_EXCEEDED: &str = "cannot grant a permission you do not hold";
pub const EXPIRY_EXCEEDED: &str = "cannot grant beyond the end of your own grant";

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(v: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert("accept-language", v.parse().unwrap());
        Lang::from_headers(&h)
    }

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::Fa);
        assert_eq!(lang("en"), Lang::En);
        assert_eq!(lang("en-US"), Lang::En);
        assert_eq!(lang("de, en-GB;q=0.8"), Lang::En);
        assert_eq!(lang("fa, en"), Lang::Fa);
        assert_eq!(lang("en;q=0, fa"), Lang::Fa);
        assert_eq!(lang("de"), Lang::Fa);
    }

    #[test]
    fn the_seed_summary() {
        let first = Lang::Fa.rule(Rule::Required, "number_id");
        assert_eq!(first, "تکمیل گزینه number id الزامی است");
        assert_eq!(
            Lang::Fa.summary(&first, 1),
            "تکمیل گزینه number id الزامی است (و 1 خطای دیگر)"
        );
        assert_eq!(Lang::En.summary("x", 2), "x (and 2 more errors)");
    }
}
