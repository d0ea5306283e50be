//! What the engine may dial through the paid trunk on a number it did not
//! choose itself: callbacks (the number is whatever the caller's From
//! said) and navigators' follow-up calls. Toll fraud dials premium and
//! far-away numbers through a trunk that pays for them; a 211 line calls
//! back people in its own region.
//!
//! A number passes when it is E.164 (`+` and 8–15 digits), starts with one
//! of `[trunk] allowed_prefixes` (default `+1`: North America) and with
//! none of `[trunk] blocked_prefixes` (default: the premium 900 and 976
//! codes, and the Caribbean countries that share the +1 code but are
//! charged as international — the usual targets of "one-ring" fraud).

/// Premium-rate codes and the +1 countries billed as international.
pub const DEFAULT_BLOCKED: [&str; 27] = [
    "+1900", "+1976", "+1242", "+1246", "+1264", "+1268", "+1284", "+1345", "+1441", "+1473",
    "+1649", "+1658", "+1664", "+1721", "+1758", "+1767", "+1784", "+1809", "+1829", "+1849",
    "+1868", "+1869", "+1876", "+1340", "+1670", "+1671", "+1684",
];

/// Why a number may not be dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0:?} is not an E.164 number")]
    NotANumber(String),
    #[error("{0} is outside the dial plan (allowed: {1})")]
    NotAllowed(String, String),
    #[error("{0} is blocked by the dial plan ({1})")]
    Blocked(String, String),
}

/// The numbers the trunk may be asked to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    allowed: Vec<String>,
    blocked: Vec<String>,
}

impl DialPlan {
    pub fn new(allowed: &[String], blocked: &[String]) -> DialPlan {
        DialPlan {
            allowed: allowed.to_vec(),
            blocked: blocked.to_vec(),
        }
    }

    /// Whether `number` may be dialled; the reason when it may not.
    pub fn check(&self, number: &str) -> Result<(), Refusal> {
        let digits = number.strip_prefix('+').unwrap_or("");
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::NotANumber(number.to_owned()));
        }
        if !self.allowed.iter().any(|p| number.starts_with(p.as_str())) {
            return Err(Refusal::NotAllowed(
                number.to_owned(),
                self.allowed.join(", "),
            ));
        }
        if let Some(p) = self.blocked.iter().find(|p| number.starts_with(p.as_str())) {
            return Err(Refusal::Blocked(number.to_owned(), p.clone()));
        }
        Ok(())
    }

    /// Checks the prefixes of a configuration: `+` and digits.
    pub fn validate(prefixes: &[String]) -> Result<(), String> {
        match prefixes.iter().find(|p| {
            p.strip_prefix('+')
                .is_none_or(|d| d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()))
        }) {
            Some(bad) => Err(format!(
                "{bad:?} is not a number prefix like \"+1\" or \"+1613\""
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_plan() -> DialPlan {
        DialPlan::new(&["+1".into()], &DEFAULT_BLOCKED.map(String::from))
    }

    #[test]
    fn a_north_american_caller_may_be_called_back() {
        let plan = default_plan();
        for n in ["+16135550123", "+18075550123", "+14165550000"] {
            assert_eq!(plan.check(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn premium_international_and_caribbean_numbers_are_refused() {
        let plan = default_plan();
        assert!(matches!(plan.check("+19005550123"), Err(Refusal::Blocked(_, p)) if p == "+1900"));
        assert!(matches!(
            plan.check("+19765550123"),
            Err(Refusal::Blocked(..))
        ));
        assert!(
            matches!(plan.check("+18765550123"), Err(Refusal::Blocked(..))),
            "Jamaica"
        );
        assert!(matches!(
            plan.check("+447700900123"),
            Err(Refusal::NotAllowed(..))
        ));
        assert!(matches!(
            plan.check("+33612345678"),
            Err(Refusal::NotAllowed(..))
        ));
        for junk in [
            "",
            "anonymous",
            "6135550123",
            "+1613555012x",
            "+1",
            "+1234567890123456",
        ] {
            assert!(
                matches!(plan.check(junk), Err(Refusal::NotANumber(_))),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_centre_may_allow_more_and_block_more() {
        let plan = DialPlan::new(&["+1".into(), "+33".into()], &["+1613555".into()]);
        assert_eq!(plan.check("+33612345678"), Ok(()));
        assert!(plan.check("+16135550123").is_err());
        assert!(DialPlan::validate(&["+1".into(), "+44".into()]).is_ok());
        assert!(DialPlan::validate(&["1613".into()]).is_err());
        assert!(DialPlan::validate(&["+".into()]).is_err());
    }
}
